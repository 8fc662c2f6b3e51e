// Package deploy holds no code: its tests check the deployment files beside
// it (the Grafana dashboard and the Prometheus alerting rules) against the
// metrics the projector exports.
package deploy
