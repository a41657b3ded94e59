module github.com/natsd/natsd/bench/wslib

go 1.26.0

require (
	github.com/coder/websocket v1.8.15
	github.com/gobwas/ws v1.5.0
	github.com/natsd/natsd v0.0.0
)

require github.com/gobwas/httphead v0.1.0 // indirect

replace github.com/natsd/natsd => ../..
