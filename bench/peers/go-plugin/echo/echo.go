// Package echo is the gRPC echo interface shared by the go-plugin host and plugin of
// `bench peers`: one unary method, Echo(BytesValue) -> BytesValue, described by hand (no code
// generator needed) with protobuf's well-known BytesValue message as request and response.
package echo

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/golang/protobuf/ptypes/wrappers"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Handshake is what host and plugin must agree on before go-plugin connects them.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "CONVOTIC_PEERS_BENCH",
	MagicCookieValue: "echo",
}

// Echoer is the interface the host dispenses.
type Echoer interface {
	Echo(ctx context.Context, body []byte) ([]byte, error)
}

// server answers Echo with the request's bytes once they are checked to be JSON.
type server struct{}

func (server) echo(_ context.Context, in *wrappers.BytesValue) (*wrappers.BytesValue, error) {
	if !json.Valid(in.Value) {
		return nil, errors.New("not JSON")
	}
	return &wrappers.BytesValue{Value: in.Value}, nil
}

func echoHandler(srv interface{}, ctx context.Context, dec func(interface{}) error, interceptor grpc.UnaryServerInterceptor) (interface{}, error) {
	in := new(wrappers.BytesValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	s := srv.(server)
	if interceptor == nil {
		return s.echo(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/convotic.bench.Echo/Echo"}
	return interceptor(ctx, in, info, func(ctx context.Context, req interface{}) (interface{}, error) {
		return s.echo(ctx, req.(*wrappers.BytesValue))
	})
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: "convotic.bench.Echo",
	HandlerType: (*interface{})(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Echo", Handler: echoHandler}},
	Streams:     []grpc.StreamDesc{},
	Metadata:    "echo",
}

// client calls Echo on the plugin's connection.
type client struct{ conn *grpc.ClientConn }

func (c client) Echo(ctx context.Context, body []byte) ([]byte, error) {
	out := new(wrappers.BytesValue)
	if err := c.conn.Invoke(ctx, "/convotic.bench.Echo/Echo", &wrappers.BytesValue{Value: body}, out); err != nil {
		return nil, err
	}
	return out.Value, nil
}

// Plugin is the go-plugin GRPCPlugin serving and dispensing the echo (gRPC only).
type Plugin struct {
	plugin.NetRPCUnsupportedPlugin
}

// GRPCServer registers the echo service on the plugin's gRPC server.
func (Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&serviceDesc, server{})
	return nil
}

// GRPCClient gives the host an Echoer over the plugin's connection.
func (Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (interface{}, error) {
	return client{conn: conn}, nil
}
