package proto

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestDecodeKeysAndTampered: the keys message and the tampered install
// report decode when valid and are rejected, naming the field, when not.
func TestDecodeKeysAndTampered(t *testing.T) {
	kt, it := Topic("a1", KindKeys), Topic("a1", KindInstall)
	keys := &Keys{Chain: [][]byte{[]byte(`{"key_id":"x"}`)}}
	sha := strings.Repeat("ab", 32)
	tam := &Install{Agent: "a1", Rollout: "r-1", Kind: ManifestModel, Name: "m", Version: 2, State: InstallTampered,
		Reason: "models/m/2/model.tflite has sha256 ...", File: "models/m/2/model.tflite", ExpectedSHA256: sha,
		ActualSHA256: strings.Repeat("cd", 32), Time: time.Now()}
	info := &Info{Agent: "a1", OS: "linux", Arch: "amd64", Trust: &TrustInfo{Serial: 2, Keys: []string{"0123456789abcdef"}}}
	for _, c := range []struct {
		topic string
		msg   any
	}{{kt, keys}, {it, tam}, {Topic("a1", KindInfo), info}} {
		if _, err := Decode(c.topic, mustEncode(t, c.msg)); err != nil {
			t.Errorf("%s: %v", c.topic, err)
		}
	}
	tooMany := make([][]byte, MaxKeyChain+1)
	for i := range tooMany {
		tooMany[i] = []byte("x")
	}
	cases := []struct {
		name, topic string
		payload     []byte
		want        string
	}{
		{name: "keys empty chain", topic: kt, payload: patch(t, keys, "chain", [][]byte{}), want: "chain of 0"},
		{name: "keys chain too long", topic: kt, payload: patch(t, keys, "chain", tooMany), want: "chain of 17"},
		{name: "keys oversized rotation", topic: kt, payload: patch(t, keys, "chain", [][]byte{make([]byte, MaxRotation+1)}), want: "rotation 0"},
		{name: "tampered without file", topic: it, payload: patch(t, tam, "file", ""), want: "without the file"},
		{name: "tampered without reason", topic: it, payload: patch(t, tam, "reason", ""), want: "without a reason"},
		{name: "tampered bad hash", topic: it, payload: patch(t, tam, "actual_sha256", "xyz"), want: "actual_sha256"},
		{name: "info too many trusted keys", topic: Topic("a1", KindInfo),
			payload: patch(t, info, "trust", TrustInfo{Keys: make([]string, MaxTrustedKeys+1)}), want: "trust"},
	}
	for _, c := range cases {
		m, err := Decode(c.topic, c.payload)
		if err == nil || !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %T %v, want ErrRejected mentioning %q", c.name, m, err, c.want)
		}
	}
	if !IsFinalInstall(InstallTampered) {
		t.Error("tampered is not final")
	}
}

// FuzzDecodeKeys: any payload on the keys or install topic decodes to a
// valid message or is rejected, never a panic.
func FuzzDecodeKeys(f *testing.F) {
	f.Add(true, []byte(`{"v":1,"type":"keys","chain":["eyJrZXlfaWQiOiJ4In0="]}`))
	f.Add(true, []byte(`{"v":1,"type":"keys","chain":[]}`))
	f.Add(false, []byte(`{"v":1,"type":"install","agent":"a1","rollout":"r","kind":"model","name":"m","version":1,"state":"tampered","reason":"x","file":"f"}`))
	f.Fuzz(func(t *testing.T, keys bool, payload []byte) {
		topic := Topic("a1", KindInstall)
		if keys {
			topic = Topic("a1", KindKeys)
		}
		m, err := Decode(topic, payload)
		if err != nil {
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("error not wrapping ErrRejected: %v", err)
			}
			return
		}
		if k, ok := m.(*Keys); ok && (len(k.Chain) == 0 || len(k.Chain) > MaxKeyChain) {
			t.Fatalf("accepted a chain of %d", len(k.Chain))
		}
	})
}
