package token

import (
	"fmt"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// StrictJSON is the Connect JSON codec with unknown fields refused: a typo
// in a field name is a client bug that should fail loudly rather than be
// half-applied.
type StrictJSON struct{}

// Name implements connect.Codec.
func (StrictJSON) Name() string { return "json" }

// Marshal implements connect.Codec.
func (StrictJSON) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("%T is not a proto.Message", v)
	}
	return protojson.MarshalOptions{}.Marshal(m)
}

// Unmarshal implements connect.Codec.
func (StrictJSON) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("%T is not a proto.Message", v)
	}
	if len(data) == 0 {
		// Connect sends an empty body for an empty message.
		return nil
	}
	return protojson.UnmarshalOptions{}.Unmarshal(data, m)
}

// RESTCodec is the JSON codec of the REST surface: the seed's snake_case
// field names out, unknown fields refused, and an undecodable body reported
// as InvalidArgument (vanguard would otherwise answer 500 for it).
func RESTCodec(res vanguard.TypeResolver) vanguard.Codec {
	return restCodec{vanguard.JSONCodec{
		MarshalOptions:   protojson.MarshalOptions{Resolver: res, UseProtoNames: true, EmitUnpopulated: true},
		UnmarshalOptions: protojson.UnmarshalOptions{Resolver: res},
	}}
}

type restCodec struct{ vanguard.JSONCodec }

func (c restCodec) Unmarshal(data []byte, msg proto.Message) error {
	return malformed(c.JSONCodec.Unmarshal(data, msg))
}

func (c restCodec) UnmarshalField(data []byte, msg proto.Message, field protoreflect.FieldDescriptor) error {
	return malformed(c.JSONCodec.UnmarshalField(data, msg, field))
}

func malformed(err error) error {
	if err == nil {
		return nil
	}
	return newConnectError(connect.CodeInvalidArgument, "MALFORMED_REQUEST", "malformed JSON body: "+err.Error())
}
