// Command daprd-min is daprd with only the components TaskPulse uses.
//
// The upstream cmd/daprd links about 120 components (cloud SDKs included) when built with
// -tags stablecomponents; this build registers the handful that dapr-components/ names, so
// it compiles in a fraction of the time and memory on a small machine. Runtime behaviour
// (APIs, flags, subscriptions, jobs) is the upstream daprd of the pinned release.
package main

func main() {
	run()
}
