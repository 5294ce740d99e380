package broker

import "sync/atomic"

// Stats are the broker's own counters, for its metrics endpoint.
type Stats struct {
	ClientsConnected int64
	MessagesReceived int64
	MessagesSent     int64
	MessagesDropped  int64
	Retained         int64
	Subscriptions    int64
	BytesReceived    int64
	BytesSent        int64
}

// Stats reads the counters now.
func (b *Broker) Stats() Stats {
	i := b.srv.Info
	return Stats{ClientsConnected: atomic.LoadInt64(&i.ClientsConnected), MessagesReceived: atomic.LoadInt64(&i.MessagesReceived),
		MessagesSent: atomic.LoadInt64(&i.MessagesSent), MessagesDropped: atomic.LoadInt64(&i.MessagesDropped),
		Retained: atomic.LoadInt64(&i.Retained), Subscriptions: atomic.LoadInt64(&i.Subscriptions),
		BytesReceived: atomic.LoadInt64(&i.BytesReceived), BytesSent: atomic.LoadInt64(&i.BytesSent)}
}
