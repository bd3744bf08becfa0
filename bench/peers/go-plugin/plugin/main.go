// The go-plugin plugin of `bench peers`: serves the echo interface over gRPC.
package main

import (
	"convotic/peers/echo"

	plugin "github.com/hashicorp/go-plugin"
)

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: echo.Handshake,
		Plugins:         map[string]plugin.Plugin{"echo": echo.Plugin{}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
