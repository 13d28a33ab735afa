package pahotest

import "github.com/eclipse/paho.golang/paho"

// V5Will is the Will Message these tests give their clients.
func V5Will(topic string, retain bool) *paho.WillMessage {
	return &paho.WillMessage{Topic: topic, QoS: 1, Retain: retain, Payload: []byte("gone:" + topic)}
}

// V5WillDelay is will properties with a Will Delay Interval.
func V5WillDelay(sec uint32) *paho.WillProperties {
	return &paho.WillProperties{WillDelayInterval: &sec}
}
