package binproto

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/binproto/binproto/schema"
)

// NonceSize is the size of the HMAC challenge's nonce, and of its answer.
const NonceSize = 32

// AuthTypes are the message types the built-in authenticators exchange. The
// compatible framing has no room for anything but configured types, so
// reserve these in Config.Types with the structures Register adds. A zero
// type is unused: TokenAuth needs Token and OK, HMACAuth Challenge,
// Response and OK, TLSAuth none.
//
//	Token      client → server  token: bytes (variable; a str field also works)
//	Challenge  server → client  nonce: bytes, fixed 32
//	Response   client → server  client_id: str (variable), mac: bytes, fixed 32
//	OK         server → client  no fields (the header alone)
type AuthTypes struct {
	Token     MessageType
	Challenge MessageType
	Response  MessageType
	OK        MessageType
}

// TokenFields returns the fields of the token message: token (bytes).
func TokenFields() []Field { return []Field{schema.Bytes("token")} }

// ChallengeFields returns the fields of the HMAC challenge: nonce (32 bytes).
func ChallengeFields() []Field { return []Field{schema.FixedBytes("nonce", NonceSize)} }

// ResponseFields returns the fields of the HMAC response: client_id (str)
// and mac (32 bytes).
func ResponseFields() []Field {
	return []Field{schema.Str("client_id"), schema.FixedBytes("mac", sha256.Size)}
}

// AuthOKFields returns the fields of the authentication acknowledgement:
// none.
func AuthOKFields() []Field { return nil }

// Register adds the structure of every non-zero type of at to types, the
// map that becomes Config.Types.
func (at AuthTypes) Register(types map[MessageType]*Structure) {
	for _, x := range []struct {
		t MessageType
		f []Field
	}{{at.Token, TokenFields()}, {at.Challenge, ChallengeFields()}, {at.Response, ResponseFields()}, {at.OK, AuthOKFields()}} {
		if x.t != 0 {
			types[x.t] = schema.MustStructure(x.f...)
		}
	}
}

// Declare registers at in cfg: the structures of its non-zero types in
// Types (as Register does), the acknowledgement as the reply to the token
// and to the HMAC response in Replies, and the challenge, which the server
// sends unprompted, in Pushes. A client built on such a Config can make
// its own authentication requests (a custom ClientAuthenticator) with
// Request.
func (at AuthTypes) Declare(cfg *Config) {
	if cfg.Types == nil {
		cfg.Types = make(map[MessageType]*Structure)
	}
	at.Register(cfg.Types)
	if at.OK != 0 {
		if cfg.Replies == nil {
			cfg.Replies = make(map[MessageType][]MessageType)
		}
		for _, t := range []MessageType{at.Token, at.Response} {
			if t != 0 {
				cfg.Replies[t] = append(cfg.Replies[t], at.OK)
			}
		}
	}
	if at.Challenge != 0 {
		cfg.Pushes = append(cfg.Pushes, at.Challenge)
	}
}

// authType is a message type a built-in authenticator needs, with the
// name of its AuthTypes field.
type authType struct {
	field string
	t     MessageType
}

// checkAuthTypes reports the first of types that the authenticator auth
// cannot exchange with protocol p: one that is not set, is p's not-found
// type, or is not in p's Config.Types (then every client would get the
// not-found reply to its first message).
func checkAuthTypes(p *Protocol, auth string, types ...authType) error {
	for _, x := range types {
		switch {
		case x.t == 0:
			return fmt.Errorf("%s.Types.%s is not set", auth, x.field)
		case x.t == p.NotFound():
			return fmt.Errorf("%s.Types.%s is message type %d, the not-found type", auth, x.field, x.t)
		case p.Structure(x.t) == nil:
			return fmt.Errorf("%s.Types.%s is message type %d, which is not in Config.Types (AuthTypes.Register adds it)", auth, x.field, x.t)
		}
	}
	return nil
}

// ok returns the acknowledgement message, or NoReply when OK is zero.
func (at AuthTypes) ok() Outgoing {
	if at.OK == 0 {
		return NoReply
	}
	return Msg(at.OK, nil)
}

// expect checks that m has type t and returns its fields.
func expect(m *Message, t MessageType, what string) (map[string]any, error) {
	if t == 0 {
		return nil, fmt.Errorf("no message type is reserved for the %s", what)
	}
	if m.Type != t {
		return nil, fmt.Errorf("got message type %d, want the %s (type %d)", m.Type, what, t)
	}
	return m.Fields()
}

// asBytes returns a str or bytes field value as bytes.
func asBytes(v any) []byte {
	switch v := v.(type) {
	case []byte:
		return v
	case string:
		return []byte(v)
	}
	return nil
}

// TokenAuth authenticates a connection by a shared token (an API key): the
// client's first message must be of type Types.Token and carry one of the
// Tokens, and the server answers Types.OK. Any other first message, or an
// unknown token, closes the connection. Tokens are compared in constant
// time (as SHA-256 digests, so that not even their length leaks). Types.Token
// and Types.OK are required (the client waits for OK) and must be in the
// server's Config.Types: otherwise no connection could authenticate, and
// Serve refuses to start. So it does when a token is shorter than
// MinTokenLength, which could be guessed.
type TokenAuth struct {
	Types AuthTypes
	// Tokens maps each accepted token, of at least MinTokenLength bytes
	// (random ones, as from crypto/rand.Text), to the name it
	// authenticates as (Identity.Name). It must not change once serving
	// has begun: the digests are computed once, on first use.
	Tokens map[string]string

	once    sync.Once
	digests []tokenDigest
}

// tokenDigest is one accepted token, as its SHA-256 digest.
type tokenDigest struct {
	sum  [sha256.Size]byte
	name string
}

// MinTokenLength is the shortest token TokenAuth accepts in its Tokens:
// 16 bytes of a random token are 128 bits, out of reach of guessing.
const MinTokenLength = 16

// checkConfig reports a TokenAuth that cannot authenticate anyone with
// protocol p, or that holds a token short enough to guess. It names such a
// token by its name, never by the token.
func (a *TokenAuth) checkConfig(p *Protocol) error {
	if err := a.checkTypes(p); err != nil {
		return err
	}
	var short []string
	for tok, name := range a.Tokens {
		if len(tok) < MinTokenLength {
			short = append(short, name)
		}
	}
	if len(short) > 0 {
		slices.Sort(short)
		return fmt.Errorf("TokenAuth.Tokens: the token of %q is shorter than %d bytes", short[0], MinTokenLength)
	}
	return nil
}

func (a *TokenAuth) checkTypes(p *Protocol) error {
	return checkAuthTypes(p, "TokenAuth", authType{"Token", a.Types.Token}, authType{"OK", a.Types.OK})
}

// Begin implements Authenticator.
func (a *TokenAuth) Begin(_ context.Context, c *Conn) (AuthResult, error) {
	if err := a.checkTypes(c.proto); err != nil {
		return AuthResult{}, err
	}
	a.once.Do(func() {
		a.digests = make([]tokenDigest, 0, len(a.Tokens))
		for tok, name := range a.Tokens {
			a.digests = append(a.digests, tokenDigest{sha256.Sum256([]byte(tok)), name})
		}
	})
	return AuthResult{Next: a.check}, nil
}

func (a *TokenAuth) check(_ context.Context, m *Message) (AuthResult, error) {
	f, err := expect(m, a.Types.Token, "token message")
	if err != nil {
		return AuthResult{}, err
	}
	got := sha256.Sum256(asBytes(f["token"]))
	var name string
	found := 0
	for i := range a.digests { // every token, no early exit
		if subtle.ConstantTimeCompare(got[:], a.digests[i].sum[:]) == 1 {
			name, found = a.digests[i].name, 1
		}
	}
	if found == 0 {
		return AuthResult{}, errors.New("unknown token")
	}
	return AuthResult{Identity: &Identity{Method: AuthMethodToken, Name: name}, Reply: a.Types.ok()}, nil
}

// HMACAuth authenticates a connection by HMAC-SHA256 challenge-response. On
// connect the server sends Types.Challenge holding a fresh random nonce of
// NonceSize bytes; the client answers Types.Response with its client id
// and HMACResponse(secret, nonce, clientID); the server answers Types.OK.
// The nonce differs on every connection, so a recorded exchange replayed on
// another connection fails. The secret never crosses the wire. Secret and
// the three types are required, and the types must be in the server's
// Config.Types: otherwise Serve refuses to start.
type HMACAuth struct {
	Types AuthTypes
	// Secret returns the secret shared with the client that names itself
	// clientID ("" when it names none), and false for an unknown client.
	Secret func(clientID string) ([]byte, bool)
}

// SharedSecret returns an HMACAuth.Secret function that gives every client
// the same secret.
func SharedSecret(secret []byte) func(string) ([]byte, bool) {
	return func(string) ([]byte, bool) { return secret, true }
}

// HMACResponse returns HMAC-SHA256(secret, nonce || clientID): the answer to
// an HMACAuth challenge.
func HMACResponse(secret, nonce []byte, clientID string) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write(nonce)
	mac.Write([]byte(clientID))
	return mac.Sum(nil)
}

// Begin implements Authenticator: it sends the challenge.
func (a *HMACAuth) Begin(_ context.Context, c *Conn) (AuthResult, error) {
	if err := a.checkConfig(c.proto); err != nil {
		return AuthResult{}, err
	}
	nonce := make([]byte, NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return AuthResult{}, err
	}
	check := func(_ context.Context, m *Message) (AuthResult, error) {
		f, err := expect(m, a.Types.Response, "HMAC response")
		if err != nil {
			return AuthResult{}, err
		}
		id, _ := f["client_id"].(string)
		secret, ok := a.Secret(id)
		// Compute the MAC even for an unknown client, so that timing does
		// not tell known ids from unknown ones.
		want := HMACResponse(secret, nonce, id)
		if !hmac.Equal(asBytes(f["mac"]), want) || !ok {
			return AuthResult{}, fmt.Errorf("wrong HMAC response from client id %q", id)
		}
		return AuthResult{Identity: &Identity{Method: AuthMethodHMAC, Name: id}, Reply: a.Types.ok()}, nil
	}
	return AuthResult{Reply: Msg(a.Types.Challenge, map[string]any{"nonce": nonce}), Next: check}, nil
}

// checkConfig reports an HMACAuth that cannot authenticate anyone with
// protocol p.
func (a *HMACAuth) checkConfig(p *Protocol) error {
	if a.Secret == nil {
		return errors.New("HMACAuth.Secret is not set")
	}
	return checkAuthTypes(p, "HMACAuth", authType{"Challenge", a.Types.Challenge},
		authType{"Response", a.Types.Response}, authType{"OK", a.Types.OK})
}

// TLSAuth authenticates a TLS connection by its verified client
// certificate: set Server.TLSConfig.ClientAuth to
// tls.RequireAndVerifyClientCert (or VerifyClientCertIfGiven) and ClientCAs.
// A connection without a verified certificate, or a plain one, fails. No
// message is exchanged.
type TLSAuth struct {
	// Authorize, if set, vets the verified leaf certificate (its subject,
	// SANs, ...); an error refuses the connection.
	Authorize func(cert *x509.Certificate) error
}

// Begin implements Authenticator.
func (a *TLSAuth) Begin(_ context.Context, c *Conn) (AuthResult, error) {
	st, ok := c.TLSState()
	if !ok || len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return AuthResult{}, errors.New("no verified client certificate")
	}
	leaf := st.VerifiedChains[0][0]
	if a.Authorize != nil {
		if err := a.Authorize(leaf); err != nil {
			return AuthResult{}, err
		}
	}
	return AuthResult{Identity: &Identity{Method: AuthMethodTLS, Name: certName(leaf), Certificate: leaf}}, nil
}

// certName names a certificate's subject: its common name, or its first
// subject alternative name.
func certName(c *x509.Certificate) string {
	switch {
	case c.Subject.CommonName != "":
		return c.Subject.CommonName
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	case len(c.URIs) > 0:
		return c.URIs[0].String()
	case len(c.EmailAddresses) > 0:
		return c.EmailAddresses[0]
	case len(c.IPAddresses) > 0:
		return c.IPAddresses[0].String()
	}
	return ""
}

// ClientAuthenticator authenticates a Client to its server. Set it as
// ClientOptions.Auth and Dial runs it as soon as the connection is up,
// within Dial's context and connect timeout; or call Authenticate yourself
// (after NewClient, say) before any other request.
type ClientAuthenticator interface {
	Authenticate(ctx context.Context, cl *Client) error
}

// ClientAuthFunc adapts a function to the ClientAuthenticator interface.
type ClientAuthFunc func(ctx context.Context, cl *Client) error

// Authenticate calls f(ctx, cl).
func (f ClientAuthFunc) Authenticate(ctx context.Context, cl *Client) error { return f(ctx, cl) }

// TokenCredentials authenticates a client to a TokenAuth server.
type TokenCredentials struct {
	Types AuthTypes
	Token []byte
}

// Authenticate sends the token and waits for the acknowledgement. Every
// error wraps ErrAuthFailed.
func (tc TokenCredentials) Authenticate(ctx context.Context, cl *Client) error {
	var tok any = tc.Token
	if s := cl.proto.Structure(tc.Types.Token); s != nil && len(s.Fields()) > 0 && s.Fields()[0].Kind == schema.KindString {
		tok = string(tc.Token)
	}
	return awaitOK(ctx, cl, Msg(tc.Types.Token, map[string]any{"token": tok}), tc.Types.OK)
}

// HMACCredentials authenticates a client to an HMACAuth server.
type HMACCredentials struct {
	Types    AuthTypes
	ClientID string // may be empty
	Secret   []byte
}

// Authenticate waits for the server's challenge, answers it and waits for
// the acknowledgement. The challenge is taken from the Receive queue, so no
// handler in ClientOptions.Handlers may take its type, and no other request
// may be made first. Every error wraps ErrAuthFailed.
func (hc HMACCredentials) Authenticate(ctx context.Context, cl *Client) error {
	m, err := cl.Receive(ctx)
	if err != nil {
		return &wrapError{kind: ErrAuthFailed, context: "waiting for the challenge", err: err}
	}
	f, err := expect(m, hc.Types.Challenge, "HMAC challenge")
	if err != nil {
		return &wrapError{kind: ErrAuthFailed, err: err}
	}
	nonce := asBytes(f["nonce"])
	resp := Msg(hc.Types.Response, map[string]any{"client_id": hc.ClientID, "mac": HMACResponse(hc.Secret, nonce, hc.ClientID)})
	return awaitOK(ctx, cl, resp, hc.Types.OK)
}

// awaitOK sends req and checks that the reply is of type ok.
func awaitOK(ctx context.Context, cl *Client, req Outgoing, ok MessageType) error {
	k, err := cl.roundTrip(ctx, req, []MessageType{ok}, nil, nil)
	if err != nil {
		return &wrapError{kind: ErrAuthFailed, err: err}
	}
	cl.release(k)
	return nil
}
