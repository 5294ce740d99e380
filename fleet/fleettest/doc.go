// Package fleettest is the one test kit of the fleet protocol, for the tests
// of every package that speaks it (fleet, agent, firmware, the CLI):
//
//   - Start: an MQTT broker (the embedded one or Debian's mosquitto) that can
//     be stopped and restarted mid-test;
//   - ConnectHost: the host's connection, publishing deploys and collecting
//     install reports;
//   - ServeArtifacts: the host's artifact server, with a cut mode for
//     resume-after-cut tests;
//   - NewRig and Key: deploys signed through the host's real manifest code
//     (fleet/rollout);
//   - AgentMain and StartAgent: real agent processes (the test binary
//     re-executed as an agent) that a test can SIGKILL and start again;
//   - Eventually: polling waits;
//   - LayerModel: small real int8 models built from layer keys.
//
// Tests in packages this kit imports (agent, fleet/rollout, ...) use it from
// their external _test package, so no import cycle forms.
package fleettest
