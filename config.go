package binproto

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/binproto/binproto/schema"
	"github.com/binproto/binproto/wire"
)

// MessageType identifies a kind of message; it is the value carried in each
// frame's header. Declare your own constants of this type:
//
//	const (
//		SensorData binproto.MessageType = 1
//		Status     binproto.MessageType = 2
//	)
type MessageType uint64

// Transport selects the network a Protocol runs over.
type Transport uint8

const (
	// TCP frames messages back to back on a stream (the zero value). TLS is
	// TCP with a *tls.Config on the server or client.
	TCP Transport = iota
	// UDP carries exactly one frame per datagram.
	UDP
)

// String returns "tcp" or "udp".
func (t Transport) String() string {
	if t == UDP {
		return "udp"
	}
	return "tcp"
}

// Defaults applied by NewProtocol to zero Config fields.
const (
	DefaultHeaderFormat   = ">H"
	DefaultMaxPayloadSize = wire.DefaultMaxPayload // 1 MiB
	DefaultTimeout        = 30 * time.Second       // connect and read
	DefaultWriteTimeout   = 10 * time.Second       // each write
	DefaultIdleTimeout    = 5 * time.Minute        // a server connection with nothing dispatched
	DefaultBufferSize     = 4096
	DefaultMaxQueuedBytes = 4 << 20
	// maxUDPPayload is the largest UDP payload over IPv4: a whole frame,
	// header, length and checksum included, must fit in it.
	maxUDPPayload = 65507
)

// CRC32 is the built-in checksum: CRC-32 (IEEE) as 4 bytes big-endian, the
// one the Python package's users pair with zlib.crc32. CRC32C is the
// Castagnoli variant. Any wire.Checksum plugs in.
var (
	CRC32  = wire.CRC32
	CRC32C = wire.CRC32C
)

// Config is what NewProtocol builds a Protocol from: every option of the
// Python ProtocolConfig, spelled as Go does. Only Types is required; every
// other zero field takes the default documented on it.
type Config struct {
	// Types maps each message type to its structure. Required.
	Types map[MessageType]*Structure
	// HeaderFormat is the struct format of the message-type header: one
	// integer code with an optional byte order, e.g. ">H" (default), ">B",
	// ">I", "<Q".
	HeaderFormat string
	// MaxPayloadSize bounds every payload sent or received, checked on the
	// declared length before anything is allocated. Default 1 MiB. With
	// UDP it is clamped so that a whole frame (header, 4-byte length,
	// payload, checksum) fits in one 65 507-byte datagram.
	MaxPayloadSize int
	// ConnectTimeout bounds dialing. Default 30 s; negative: none.
	ConnectTimeout time.Duration
	// ReadTimeout bounds reading one whole frame, from its first byte to its
	// last, so a peer dripping bytes is cut off. Default 30 s; negative: none.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write; a write that times out closes the
	// connection, so a peer that stops reading holds its queued replies for
	// no longer than this. Default 10 s; negative: none.
	WriteTimeout time.Duration
	// IdleTimeout makes a server close a connection on which no frame has
	// been dispatched to a handler (or the authenticator) for this long
	// while nothing is in flight; frames that reach no handler, such as a
	// bare not-found header, do not count. Clients, which may wait for
	// pushes, never time out idle: a client that only receives pushes must
	// send something within it, or the server must set a longer one.
	// Default 5 min; negative: connections may idle for ever.
	IdleTimeout time.Duration
	// BufferSize is each connection's read buffer. Default 4096 bytes; the
	// buffer grows for a larger frame and shrinks back after it.
	BufferSize int
	// MaxQueuedBytes bounds each connection's outbound queue; a peer that
	// stops reading makes writers wait, then the write timeout closes it.
	// Default 4 MiB.
	MaxQueuedBytes int
	// NotFoundType is the type of the not-found reply, sent as the header
	// alone. Zero means the largest value of the header format (0xFFFF for
	// ">H"), as in the Python package.
	NotFoundType MessageType
	// Checksum appends a trailer to every frame but the not-found one. Nil
	// (the default) disables checksums; CRC32 is the compatible choice.
	Checksum wire.Checksum
	// Transport is TCP (default) or UDP.
	Transport Transport
	// Replies declares, for each request type, the types of the messages
	// that may answer it, besides the not-found message. The compatible
	// framing carries no request ids, so a Client matches replies to
	// requests by order and by type (see Client). A request type left out
	// is answered by its own type only: an echo, as in the Python quick
	// start. Every type named must be in Types.
	Replies map[MessageType][]MessageType
	// Pushes lists the types a server sends unprompted (Conn.Send,
	// Server.Broadcast). A Client never takes them for replies: they go to
	// its push handlers or its Receive queue. A type may not be both a
	// push and a reply type in Replies.
	Pushes []MessageType
	// DisableFastPath turns the performance switch off: no buffer pooling and
	// one write per frame instead of coalesced writes. Slower, still correct.
	DisableFastPath bool
}

// Protocol is a validated, immutable Config, ready to encode, decode and
// serve. It is safe for concurrent use.
type Protocol struct {
	cfg     Config
	framing wire.Framing
	types   map[MessageType]*Structure

	replies map[MessageType][]MessageType // Config.Replies, copied
	pushes  map[MessageType]bool          // Config.Pushes

	codecs cowMap[codecKey, error] // checkCodec's verdicts
	dense  []typeSlot              // checkCodec's fast path, by type below wire.MaxDenseType

	native native // the native profile's layout and description (native_protocol.go)
}

// NewProtocol validates cfg, applies the defaults and compiles the framing.
// Every error is a *ConfigError wrapping ErrInvalidConfig.
func NewProtocol(cfg Config) (*Protocol, error) {
	// The Protocol keeps its own copies of Types, Replies and Pushes: later
	// changes to the caller's do not reach it.
	cfg.Types = maps.Clone(cfg.Types)
	cfg.Replies = cloneReplies(cfg.Replies)
	cfg.Pushes = slices.Clone(cfg.Pushes)
	if err := applyDefaults(&cfg); err != nil {
		return nil, err
	}
	header, err := wire.ParseFormat(cfg.HeaderFormat)
	if err != nil {
		return nil, &ConfigError{Option: "HeaderFormat", Reason: "not a struct format", Err: err}
	}
	if c := header.Class(); c != wire.ClassInt && c != wire.ClassUint {
		return nil, &ConfigError{Option: "HeaderFormat", Reason: fmt.Sprintf("%q is not an integer format", cfg.HeaderFormat)}
	}
	if cfg.Transport == UDP {
		// One frame per datagram: header, length and checksum must fit
		// beside the payload, or every large write fails with EMSGSIZE.
		overhead := header.Size() + wire.LengthSize
		if cfg.Checksum != nil {
			overhead += cfg.Checksum.Size()
		}
		cfg.MaxPayloadSize = min(cfg.MaxPayloadSize, maxUDPPayload-overhead)
	}
	if cfg.NotFoundType == 0 {
		cfg.NotFoundType = MessageType(header.MaxUint())
	}
	if err := header.CheckUint(uint64(cfg.NotFoundType)); err != nil {
		return nil, &ConfigError{Option: "NotFoundType", Reason: fmt.Sprintf("%d does not fit header format %q", cfg.NotFoundType, cfg.HeaderFormat), Err: err}
	}
	shapes, err := checkTypes(&cfg, header)
	if err != nil {
		return nil, err
	}
	p := &Protocol{cfg: cfg, types: cfg.Types, dense: make([]typeSlot, wire.DenseLen(cfg.Types))}
	if err := p.checkReplies(); err != nil {
		return nil, err
	}
	for t, st := range cfg.Types {
		if uint64(t) < uint64(len(p.dense)) {
			p.dense[t].s = st
		}
	}
	p.framing = wire.Framing{
		Header:     header,
		Checksum:   cfg.Checksum,
		MaxPayload: cfg.MaxPayloadSize,
		NotFound:   uint64(cfg.NotFoundType),
		Shapes:     wire.NewShapes(shapes),
	}
	p.initNative()
	return p, nil
}

// MustProtocol is like NewProtocol but panics on error; for tests and
// package-level variables.
func MustProtocol(cfg Config) *Protocol {
	p, err := NewProtocol(cfg)
	if err != nil {
		panic(err)
	}
	return p
}

func applyDefaults(cfg *Config) error {
	if cfg.HeaderFormat == "" {
		cfg.HeaderFormat = DefaultHeaderFormat
	}
	if cfg.MaxPayloadSize == 0 {
		cfg.MaxPayloadSize = DefaultMaxPayloadSize
	}
	if cfg.MaxPayloadSize < 0 || uint64(cfg.MaxPayloadSize) > 1<<32-1 {
		return &ConfigError{Option: "MaxPayloadSize", Reason: fmt.Sprintf("%d is outside 1..2^32-1 (the 4-byte length field)", cfg.MaxPayloadSize)}
	}
	if cfg.Transport > UDP {
		return &ConfigError{Option: "Transport", Reason: fmt.Sprintf("unknown transport %d", cfg.Transport)}
	}
	for _, d := range []*time.Duration{&cfg.ConnectTimeout, &cfg.ReadTimeout} {
		if *d == 0 {
			*d = DefaultTimeout
		}
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.BufferSize == 0 {
		cfg.BufferSize = DefaultBufferSize
	}
	if cfg.MaxQueuedBytes == 0 {
		cfg.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	if cfg.BufferSize < 0 {
		return &ConfigError{Option: "BufferSize", Reason: fmt.Sprintf("%d is negative", cfg.BufferSize)}
	}
	if cfg.MaxQueuedBytes < 0 {
		return &ConfigError{Option: "MaxQueuedBytes", Reason: fmt.Sprintf("%d is negative", cfg.MaxQueuedBytes)}
	}
	if cfg.Checksum != nil && (cfg.Checksum.Size() <= 0 || cfg.Checksum.Size() > 16) {
		return &ConfigError{Option: "Checksum", Reason: fmt.Sprintf("size %d is outside 1..16", cfg.Checksum.Size())}
	}
	return nil
}

func checkTypes(cfg *Config, header wire.Format) (map[uint64]wire.Shape, error) {
	if len(cfg.Types) == 0 {
		return nil, &ConfigError{Option: "Types", Reason: "no message types"}
	}
	shapes := make(map[uint64]wire.Shape, len(cfg.Types))
	for t, s := range cfg.Types {
		switch {
		case s == nil:
			return nil, &ConfigError{Option: "Types", Reason: fmt.Sprintf("type %d has no structure", t)}
		case t == cfg.NotFoundType:
			return nil, &ConfigError{Option: "Types", Reason: fmt.Sprintf("type %d is the not-found type", t)}
		case header.CheckUint(uint64(t)) != nil:
			return nil, &ConfigError{Option: "Types", Reason: fmt.Sprintf("type %d does not fit header format %q", t, cfg.HeaderFormat)}
		case !s.Variable() && s.Size() > cfg.MaxPayloadSize:
			return nil, &ConfigError{Option: "Types", Reason: fmt.Sprintf("type %d has a fixed payload of %d bytes, over MaxPayloadSize %d", t, s.Size(), cfg.MaxPayloadSize)}
		}
		shapes[uint64(t)] = s.Shape()
	}
	return shapes, nil
}

// Config returns the configuration with every default applied. Its maps
// and slices are copies: changing them does not change the Protocol.
func (p *Protocol) Config() Config {
	cfg := p.cfg
	cfg.Types = maps.Clone(cfg.Types)
	cfg.Replies = cloneReplies(cfg.Replies)
	cfg.Pushes = slices.Clone(cfg.Pushes)
	return cfg
}

func cloneReplies(r map[MessageType][]MessageType) map[MessageType][]MessageType {
	if r == nil {
		return nil
	}
	c := make(map[MessageType][]MessageType, len(r))
	for t, ts := range r {
		c[t] = slices.Clone(ts)
	}
	return c
}

// checkReplies validates Replies and Pushes and indexes them.
func (p *Protocol) checkReplies() error {
	cfg := &p.cfg
	known := func(opt string, t MessageType) error {
		if _, ok := cfg.Types[t]; !ok {
			return &ConfigError{Option: opt, Reason: fmt.Sprintf("type %d is not in Types", t)}
		}
		return nil
	}
	p.pushes = make(map[MessageType]bool, len(cfg.Pushes))
	for _, t := range cfg.Pushes {
		if err := known("Pushes", t); err != nil {
			return err
		}
		p.pushes[t] = true
	}
	p.replies = cfg.Replies
	for req, ts := range cfg.Replies {
		if err := known("Replies", req); err != nil {
			return err
		}
		for _, t := range ts {
			if err := known("Replies", t); err != nil {
				return err
			}
			if p.pushes[t] {
				return &ConfigError{Option: "Replies", Reason: fmt.Sprintf("type %d answers type %d but is also in Pushes", t, req)}
			}
		}
	}
	return nil
}

// accepts reports whether a message of type t answers a request of type
// req: it is the not-found message or one of req's reply types.
func (p *Protocol) accepts(req, t MessageType) bool {
	if t == p.cfg.NotFoundType {
		return true
	}
	if ts, ok := p.replies[req]; ok {
		return containsType(ts, t)
	}
	return t == req && !p.pushes[t]
}

// isPush reports whether t is declared in Pushes.
func (p *Protocol) isPush(t MessageType) bool { return len(p.pushes) > 0 && p.pushes[t] }

func containsType(ts []MessageType, t MessageType) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// Structure returns the structure of type t, or nil if t is unknown.
func (p *Protocol) Structure(t MessageType) *Structure { return p.types[t] }

// Framing returns the frame layout, for code that works at the byte level.
// The returned value must not be modified.
func (p *Protocol) Framing() *wire.Framing { return &p.framing }

// NotFound returns the not-found message type.
func (p *Protocol) NotFound() MessageType { return p.cfg.NotFoundType }

// Re-exported names of package schema: programs using typed codecs import
// only binproto; the field constructors of the dynamic API (schema.Num,
// schema.Str, ...) stay in package schema.
type (
	// Structure is a compiled message structure; see schema.Structure.
	Structure = schema.Structure
	// Field defines one field of a structure; see schema.Field.
	Field = schema.Field
	// Codec encodes and decodes a tagged Go struct; see schema.Codec.
	Codec[T any] = schema.Codec[T]
)

// NewStructure compiles fields into a structure; see schema.NewStructure.
func NewStructure(fields ...Field) (*Structure, error) { return schema.NewStructure(fields...) }

// NewCodec compiles the tagged struct type T; see schema.NewCodec.
func NewCodec[T any]() (*Codec[T], error) { return schema.NewCodec[T]() }

// MustCodec is like NewCodec but panics on error; for package-level codecs.
func MustCodec[T any]() *Codec[T] { return schema.MustCodec[T]() }

// MustStructure is like NewStructure but panics on error.
func MustStructure(fields ...Field) *Structure { return schema.MustStructure(fields...) }
