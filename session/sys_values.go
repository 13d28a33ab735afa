package session

import "strconv"

// SysValues reads the values published under $SYS, now, as topic → the
// payload that would be published ($SYS/broker/version included): for an
// operator's API, which wants them without subscribing. It reads what a
// $SYS tick reads, one round trip to every router shard and a brief stop
// of the world for the heap size, so it is for occasional calls; it works
// with the $SYS topics turned off too.
func (b *Broker) SysValues() map[string]string {
	p := b.sys
	if p == nil {
		p = newSysPublisher(b) // for its snapshot only: never run
	}
	v := p.snapshot()
	out := make(map[string]string, len(v)+1)
	out[sysVersionTopic] = "loom " + Version
	for i, n := range v {
		out[sysTopics[i]] = strconv.FormatInt(n, 10)
	}
	return out
}
