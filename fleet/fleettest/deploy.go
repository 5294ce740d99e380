package fleettest

import (
	"crypto/ed25519"
	"path/filepath"
	"testing"

	"edgenas/agent/proto"
	"edgenas/fleet/rollout"
	"edgenas/internal/signing"
)

// Key is a host signing key made as `edgenas keys gen` makes it, with the
// public half on disk where an agent's --trust reads it.
type Key struct {
	Private    ed25519.PrivateKey
	Public     ed25519.PublicKey
	PublicFile string
}

// NewKey generates a host key in a test directory.
func NewKey(t testing.TB) Key {
	t.Helper()
	dir := t.TempDir()
	pub, err := signing.GenerateKey(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := signing.LoadPrivate(filepath.Join(dir, signing.PrivateFile))
	if err != nil {
		t.Fatal(err)
	}
	return Key{Private: priv, Public: pub, PublicFile: filepath.Join(dir, signing.PublicFile)}
}

// ModelDeploy builds the manifest of a model artifact through the host's
// manifest code (rollout.ModelManifest computes the expected output), lets
// edit change it (a test's deliberate fault; nil for none), and signs it as
// the host does.
func (k Key) ModelDeploy(t testing.TB, rolloutID string, a rollout.Artifact, o rollout.ManifestOptions, edit func(*proto.Manifest)) *proto.Deploy {
	t.Helper()
	m, err := rollout.ModelManifest(a, o)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&m)
	}
	return k.sign(t, rolloutID, m)
}

// AgentDeploy builds and signs the manifest of an agent bundle for target
// (GOOS/GOARCH) as `edgenas deploy --agent-bundle` does.
func (k Key) AgentDeploy(t testing.TB, rolloutID string, a rollout.Artifact, o rollout.ManifestOptions, target string) *proto.Deploy {
	t.Helper()
	m, err := rollout.AgentManifest(a, o, target)
	if err != nil {
		t.Fatal(err)
	}
	return k.sign(t, rolloutID, m)
}

func (k Key) sign(t testing.TB, rolloutID string, m proto.Manifest) *proto.Deploy {
	t.Helper()
	env, err := rollout.SignManifest(k.Private, m)
	if err != nil {
		t.Fatal(err)
	}
	return &proto.Deploy{Rollout: rolloutID, Manifest: env}
}

// Rig is the host side of a deploy test: a broker, the host's connection,
// its signing key and its artifact server.
type Rig struct {
	Broker    *Broker
	Host      *HostConn
	Key       Key
	Artifacts *Artifacts
}

// NewRig starts a broker of kind and the host side around it.
func NewRig(t testing.TB, kind string, opts Options) *Rig {
	t.Helper()
	b := Start(t, kind, opts)
	return &Rig{Broker: b, Host: ConnectHost(t, b), Key: NewKey(t), Artifacts: ServeArtifacts(t)}
}

// DeployModel publishes a signed model deploy of artifact a to agent,
// retained, as `edgenas deploy` does; o.URL defaults to the rig's URL of a.
func (r *Rig) DeployModel(t testing.TB, agent, rolloutID string, a rollout.Artifact, o rollout.ManifestOptions, edit func(*proto.Manifest)) {
	t.Helper()
	if o.URL == "" {
		o.URL = r.Artifacts.URL(a.SHA256)
	}
	r.Host.Deploy(t, agent, r.Key.ModelDeploy(t, rolloutID, a, o, edit))
}

// DeployAgent publishes a signed agent-bundle deploy of artifact a to agent,
// retained; o.URL defaults to the rig's URL of a.
func (r *Rig) DeployAgent(t testing.TB, agent, rolloutID string, a rollout.Artifact, o rollout.ManifestOptions, target string) {
	t.Helper()
	if o.URL == "" {
		o.URL = r.Artifacts.URL(a.SHA256)
	}
	r.Host.Deploy(t, agent, r.Key.AgentDeploy(t, rolloutID, a, o, target))
}
