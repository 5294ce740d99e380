// Package proto is the wire protocol between edgenas agents (on devices) and
// the host that profiles and updates them: MQTT topic names, the JSON
// messages sent on them (jobs and results, deploys and install reports), and
// the validation every incoming payload passes before anything acts on it. docs/protocol.md is its prose description; the two
// must agree.
package proto

import (
	"fmt"
	"regexp"
	"strings"
)

// Version is the protocol version carried by every message (field "v") and
// embedded in the topic prefix. A receiver rejects any other version.
const Version = 1

// Prefix is the root of every topic; the version lives in it so two protocol
// generations can share a broker without seeing each other's traffic.
const Prefix = "edgenas/v1"

// MaxPayload is the largest payload accepted from the wire. Results of a job
// of MaxKeysPerJob keys stay well below it.
const MaxPayload = 256 << 10

// MaxKeysPerJob bounds a job's key list so one result fits MaxPayload.
const MaxKeysPerJob = 64

// Message kinds. Each is also the last topic level it travels on.
const (
	KindInfo   = "info"   // agent -> anyone, retained: identity and device description
	KindStatus = "status" // agent -> anyone, retained; the last will sets it offline
	KindResult = "result" // agent -> host: measurements of one job (or its error)
	KindJob    = "job"    // host -> agent: keys to measure
	KindAck    = "ack"    // host -> agent: a result was ingested (or will never be)
	// KindDeploy: host -> agent, retained on the agent's own topic: install an artifact (deploy.go).
	KindDeploy = "deploy"
	// KindInstall: agent -> host: one state change of an install.
	KindInstall = "install"
	// KindKeys: host -> agent, retained on the agent's own topic: the signed
	// rotations of the host keys it trusts (keys.go).
	KindKeys = "keys"
)

// agentKinds are the kinds an agent publishes (and the only topics the
// embedded broker's ACL lets it write).
var agentKinds = []string{KindInfo, KindStatus, KindResult, KindInstall}

// hostKinds are the kinds the host publishes to an agent.
var hostKinds = []string{KindJob, KindAck, KindDeploy, KindKeys}

// AgentKinds returns the kinds an agent publishes.
func AgentKinds() []string { return append([]string(nil), agentKinds...) }

// HostKinds returns the kinds the host publishes to agents.
func HostKinds() []string { return append([]string(nil), hostKinds...) }

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// jobIDRE allows ':' in job ids (they are never topic levels).
var jobIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

// ValidID checks an agent id. Agent ids are topic levels and broker user
// names, so MQTT wildcards and separators are excluded.
func ValidID(id string) error {
	if !idRE.MatchString(id) {
		return fmt.Errorf("agent id %q: want 1-64 characters of [A-Za-z0-9_.-], starting with a letter or digit", id)
	}
	return nil
}

// ValidJobID checks a job id.
func ValidJobID(id string) error {
	if !jobIDRE.MatchString(id) {
		return fmt.Errorf("job id %q: want 1-128 characters of [A-Za-z0-9_.:-], starting with a letter or digit", id)
	}
	return nil
}

// Topic is the topic an agent's messages of one kind travel on:
// edgenas/v1/agents/{agent}/{kind}.
func Topic(agent, kind string) string { return Prefix + "/agents/" + agent + "/" + kind }

// Filter subscribes to one kind of message from every agent.
func Filter(kind string) string { return Prefix + "/agents/+/" + kind }

// ParseTopic splits a topic into agent id and kind, rejecting anything that
// is not exactly edgenas/v1/agents/{valid id}/{known kind}.
func ParseTopic(topic string) (agent, kind string, err error) {
	rest, ok := strings.CutPrefix(topic, Prefix+"/agents/")
	if !ok {
		return "", "", fmt.Errorf("topic %q is not under %s/agents/", topic, Prefix)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 2 {
		return "", "", fmt.Errorf("topic %q: want %s/agents/ID/KIND", topic, Prefix)
	}
	if err := ValidID(parts[0]); err != nil {
		return "", "", fmt.Errorf("topic %q: %w", topic, err)
	}
	switch parts[1] {
	case KindInfo, KindStatus, KindResult, KindJob, KindAck, KindDeploy, KindInstall, KindKeys:
	default:
		return "", "", fmt.Errorf("topic %q: unknown kind %q", topic, parts[1])
	}
	return parts[0], parts[1], nil
}

// IsAgentKind reports whether agents (not the host) publish kind.
func IsAgentKind(kind string) bool {
	for _, k := range agentKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// agentClientPrefix starts every agent's MQTT client id.
const agentClientPrefix = "edgenas-agent-"

// AgentClientID is the MQTT client id of agent id's main connection. Other
// connections of the same agent append ":" and a suffix (':' never occurs in
// an agent id, so one agent's ids cannot be another's). Brokers bind the
// client id to the authenticated identity, so no client can take over an
// agent's session.
func AgentClientID(id string) string { return agentClientPrefix + id }

// ClientIDAgent returns the agent a client id belongs to, and whether it is
// an agent's client id at all.
func ClientIDAgent(clientID string) (string, bool) {
	rest, ok := strings.CutPrefix(clientID, agentClientPrefix)
	if !ok {
		return "", false
	}
	id, _, _ := strings.Cut(rest, ":")
	return id, true
}
