package binprototarget

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/binproto/binproto"
)

func TestParseProxyProtocol(t *testing.T) {
	tests := []struct {
		in      string
		want    binproto.ProxyProtocol
		wantErr bool
	}{
		{in: "", want: binproto.ProxyProtocol{}},
		{in: "off", want: binproto.ProxyProtocol{}},
		{in: "required", want: binproto.ProxyProtocol{Mode: binproto.ProxyRequired}},
		{in: "trusted=10.0.0.0/8", want: binproto.ProxyProtocol{Mode: binproto.ProxyTrusted, Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}},
		{in: "trusted=127.0.0.1,10.1.2.3/16,::1", want: binproto.ProxyProtocol{Mode: binproto.ProxyTrusted, Trusted: []netip.Prefix{
			netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("::1/128")}}},
		{in: "trusted=", wantErr: true},
		{in: "trusted=10.0.0.0/33", wantErr: true},
		{in: "trusted=localhost", wantErr: true},
		{in: "trusted=10.0.0.0/8,", wantErr: true},
		{in: "v2", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseProxyProtocol(tt.in)
		if (err != nil) != tt.wantErr || !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseProxyProtocol(%q) = %+v, %v; want %+v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	cfg := ServeConfig{ProxyProtocol: "trusted=nonsense"}
	if err := cfg.Check(); err == nil {
		t.Error("Check accepted a bad --proxy-protocol")
	}
	cfg = ServeConfig{ProxyProtocol: "required", UDP: true}
	if err := cfg.Check(); err == nil {
		t.Error("Check accepted the PROXY protocol over UDP")
	}
}
