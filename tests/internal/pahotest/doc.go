// Package pahotest holds the helpers of Loom's black-box tests that drive
// the broker through the Paho clients: paho.golang for MQTT 5 (V5Client),
// paho.mqtt.golang for 3.1.1 (V3Inbox and the V3 functions), and the $SYS
// and will helpers built on them. It is kept apart from loomtest, which
// speaks raw MQTT and must not depend on a client library.
package pahotest
