// Package compose holds no code: its directory is the Docker Compose
// deployment (compose.yaml, the nginx front, the Dockerfile, the monitoring
// examples), and its tests check that deployment without a Docker engine.
package compose
