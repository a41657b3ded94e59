module github.com/natsd/natsd

go 1.26.0

require (
	go.uber.org/zap v1.28.0
	golang.org/x/crypto v0.57.0
)

require go.uber.org/multierr v1.10.0 // indirect
