package jetstream

import "github.com/natsd/natsd/server"

// newTransform compiles a subject transform (stream, source, republish).
func newTransform(src, dest string) (*server.Transform, error) {
	return server.NewTransform(src, dest)
}
