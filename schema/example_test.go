package schema_test

import (
	"errors"
	"fmt"

	"github.com/binproto/binproto/schema"
	"github.com/binproto/binproto/wire"
)

// Sensor is a fixed-length structure of four big-endian float32 values.
type Sensor struct {
	S1 float32 `binproto:"sensor1,>f"`
	S2 float32 `binproto:"sensor2,>f"`
	S3 float32 `binproto:"sensor3,>f"`
	S4 float32 `binproto:"sensor4,>f"`
}

// Status is a variable-length structure.
type Status struct {
	Code    uint32 `binproto:"status_code,>I"`
	Message string `binproto:"message"`
}

func Example_dynamic() {
	s := schema.MustStructure(schema.Uint32("status_code"), schema.Str("message"))
	payload, err := s.AppendPayload(nil, map[string]any{"status_code": 200, "message": "hello"})
	if err != nil {
		panic(err)
	}
	fmt.Printf("variable=%v payload=%x\n", s.Variable(), payload)

	values, err := s.DecodePayload(payload)
	if err != nil {
		panic(err)
	}
	fmt.Println(values["status_code"], values["message"])
	// Output:
	// variable=true payload=000000c80000000568656c6c6f
	// 200 hello
}

func ExampleNewCodec() {
	codec, err := schema.NewCodec[Sensor]()
	if err != nil {
		panic(err)
	}
	payload, err := codec.AppendPayload(nil, &Sensor{1.5, -2.25, 0.125, 3})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%x\n", payload)

	var got Sensor
	if err := codec.DecodePayload(payload, &got); err != nil {
		panic(err)
	}
	fmt.Println(got)
	// Output:
	// 3fc00000c01000003e00000040400000
	// {1.5 -2.25 0.125 3}
}

func ExampleCodec_Structure() {
	codec := schema.MustCodec[Status]()
	for _, f := range codec.Structure().Fields() {
		fmt.Printf("%s %v %q %d\n", f.Name, f.Kind, f.Format, f.FixedLength)
	}
	fmt.Println(codec.Structure().Shape())
	// Output:
	// status_code number ">I" 0
	// message string "" 0
	// {true 8}
}

func ExampleCodec_DecodePayloadNoCopy() {
	codec := schema.MustCodec[Status]()
	buf, _ := codec.AppendPayload(nil, &Status{Code: 404, Message: "not here"})

	var st Status
	if err := codec.DecodePayloadNoCopy(buf, &st); err != nil {
		panic(err)
	}
	// st.Message aliases buf: use it (or copy it) before buf is reused.
	fmt.Println(st.Code, st.Message)
	// Output: 404 not here
}

// A full frame: the structure gives the payload, wire.Framing the rest.
func ExampleStructure_AppendPayload_frame() {
	const typeSensor = 1
	s := schema.MustStructure(schema.Float32("s1"), schema.Float32("s2"), schema.Float32("s3"), schema.Float32("s4"))
	framing := &wire.Framing{
		Header:   wire.MustParseFormat(">H"),
		Checksum: wire.CRC32,
		NotFound: 0xFFFF,
		Shapes:   wire.NewShapes(map[uint64]wire.Shape{typeSensor: s.Shape()}),
	}
	frame, err := framing.BeginFrame(nil, typeSensor, s.Variable())
	if err != nil {
		panic(err)
	}
	frame, err = s.AppendPayload(frame, map[string]any{"s1": 1.5, "s2": -2.25, "s3": 0.125, "s4": 3.0})
	if err != nil {
		panic(err)
	}
	frame, err = framing.FinishFrame(frame, 0, s.Variable())
	if err != nil {
		panic(err)
	}
	fmt.Printf("%x\n", frame)
	// Output: 00013fc00000c01000003e000000404000009ea82578
}

func ExampleFieldError() {
	s := schema.MustStructure(schema.Uint8("level"), schema.FixedStr("name", 4))
	_, err := s.AppendPayload(nil, map[string]any{"level": 300, "name": "ok"})
	var fe *schema.FieldError
	if errors.As(err, &fe) {
		fmt.Println(fe.Field, errors.Is(err, wire.ErrRange))
	}
	_, err = s.AppendPayload(nil, map[string]any{"level": 3, "name": "too long"})
	fmt.Println(errors.Is(err, schema.ErrTooLong))
	fmt.Println(err)
	// Output:
	// level true
	// true
	// binproto: field "name": value longer than its fixed length: 8 bytes, at most 4 allowed
}

func ExampleStructureError() {
	_, err := schema.NewStructure(schema.Num("a", ">x"))
	fmt.Println(errors.Is(err, schema.ErrInvalidStructure), errors.Is(err, wire.ErrFormat))
	fmt.Println(err)
	// Output:
	// true true
	// binproto: invalid structure: field "a": invalid format ">x": unsupported code 'x'
}
