// Package telemetry holds authd's observability plumbing: Prometheus
// metrics, the HTTP middleware that records them, and panic recovery that
// logs instead of crashing. Logging is the standard library's log/slog.
package telemetry
