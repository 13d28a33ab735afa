package loom

import "time"

// TopicRate is a topic's messages per second over a window.
type TopicRate struct {
	Topic             string
	MessagesPerSecond float64
}

// TopTopics returns up to n topics with the most messages published per
// second, highest first, and the window the rates are over: the last 5 s
// window that has ended (until one has, the time since New). Each router
// shard counts its own topics in a sketch of bounded size, so a rate is
// exact for the busy topics and never more than the topic had; topics
// under $SYS, the broker's own, are not counted. It costs a round trip to
// every shard: fine for a dashboard, not per message.
func (s *Server) TopTopics(n int) ([]TopicRate, time.Duration) {
	rates, window := s.broker.Router().TopTopics(n)
	out := make([]TopicRate, len(rates))
	for i, r := range rates {
		out[i] = TopicRate{Topic: r.Topic, MessagesPerSecond: r.PerSecond}
	}
	return out, window
}
