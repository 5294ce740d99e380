package dashboard

import (
	"context"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"edgenas/agent/proto"
)

// watchedKinds are the topics serve's dashboard subscription follows: the
// agents' retained identity and liveness, install reports, and the job,
// result and ack traffic the metrics count.
var watchedKinds = []string{proto.KindInfo, proto.KindStatus, proto.KindInstall, proto.KindJob, proto.KindResult, proto.KindAck}

// Watch connects to the broker with cfg (its own client: the rollout
// engines' connection stays as it is) and feeds every agent message to devs
// and, if set, m. It returns once subscribed; the client reconnects and
// resubscribes by itself. stop disconnects.
func Watch(ctx context.Context, cfg proto.ConnConfig, devs *Devices, m *Metrics) (stop func(), err error) {
	handle := func(_ paho.Client, msg paho.Message) {
		v, err := proto.Decode(msg.Topic(), msg.Payload())
		if err != nil {
			if len(msg.Payload()) > 0 && m != nil {
				m.Observe(nil)
			}
			return
		}
		devs.Observe(v, time.Now().UTC())
		if m != nil {
			m.Observe(v)
		}
	}
	filters := make([]string, len(watchedKinds))
	for i, k := range watchedKinds {
		filters[i] = proto.Filter(k)
	}
	subscribed := make(chan error, 1)
	cfg.OnConnect = func(c paho.Client) {
		err := proto.Subscribe(c, handle, filters...)
		select {
		case subscribed <- err:
		default:
		}
	}
	cfg.OnLost = nil
	c, err := proto.Connect(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	select {
	case err = <-subscribed:
	case <-ctx.Done():
		err = ctx.Err()
	case <-time.After(15 * time.Second):
		err = fmt.Errorf("no subscription within 15s")
	}
	if err != nil {
		c.Disconnect(100)
		return nil, fmt.Errorf("dashboard: subscribe: %w", err)
	}
	return func() { c.Disconnect(250) }, nil
}
