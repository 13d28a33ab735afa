// Package deploy holds no code: its folder keeps what runs Loom as a
// service (the systemd unit and its user, the configuration the Docker
// image starts with), and its tests check them and the repository's
// Dockerfile — systemd-analyze verify and security on the unit, the
// Dockerfile's build command run as written, its image's shape.
package deploy
