package binproto_test

import (
	"errors"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/schema"
)

// TestNotFoundTypeReserved: no configured message type may be the not-found
// type, whether it is the default (the header format's largest value) or
// set explicitly; NewProtocol refuses it with a *ConfigError.
func TestNotFoundTypeReserved(t *testing.T) {
	st := schema.MustStructure(schema.Uint32("value"))
	for _, c := range []struct {
		name     string
		header   string
		notFound binproto.MessageType
		typ      binproto.MessageType
	}{
		{"default >H", "", 0, 0xFFFF},
		{"default >B", ">B", 0, 0xFF},
		{"default >I", ">I", 0, 0xFFFF_FFFF},
		{"explicit", "", 200, 200},
		{"explicit, not the largest", ">B", 7, 7},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := binproto.Config{
				HeaderFormat: c.header,
				NotFoundType: c.notFound,
				Types:        map[binproto.MessageType]*binproto.Structure{1: st, c.typ: st},
			}
			_, err := binproto.NewProtocol(cfg)
			var ce *binproto.ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, binproto.ErrInvalidConfig) {
				t.Fatalf("type %d equal to the not-found type: %v, want a *ConfigError", c.typ, err)
			}
			if ce.Option != "Types" {
				t.Errorf("ConfigError.Option = %q, want Types", ce.Option)
			}
			// The same config without the reserved type is fine, and a
			// type next to it too.
			delete(cfg.Types, c.typ)
			cfg.Types[c.typ-1] = st
			if _, err := binproto.NewProtocol(cfg); err != nil {
				t.Fatalf("without type %d: %v", c.typ, err)
			}
		})
	}
}

// A Protocol keeps its own copy of Types, in and out.
func TestProtocolImmutable(t *testing.T) {
	types := quickTypes()
	p, err := binproto.NewProtocol(binproto.Config{Types: types})
	if err != nil {
		t.Fatal(err)
	}
	extra := schema.MustStructure(schema.Uint8("x"))
	types[50] = extra
	delete(types, SensorData)
	if p.Structure(50) != nil || p.Structure(SensorData) == nil {
		t.Error("changing the caller's map changed the Protocol")
	}
	cfg := p.Config()
	cfg.Types[51] = extra
	delete(cfg.Types, Status)
	if p.Structure(51) != nil || p.Structure(Status) == nil || len(p.Config().Types) != 4 {
		t.Error("changing Config().Types changed the Protocol")
	}
}

func TestNegativeMaxQueuedBytesOption(t *testing.T) {
	_, err := binproto.NewProtocol(binproto.Config{Types: quickTypes(), MaxQueuedBytes: -1})
	var ce *binproto.ConfigError
	if !errors.As(err, &ce) || ce.Option != "MaxQueuedBytes" {
		t.Errorf("err = %v, want a *ConfigError naming MaxQueuedBytes", err)
	}
	_, err = binproto.NewProtocol(binproto.Config{Types: quickTypes(), BufferSize: -1})
	if !errors.As(err, &ce) || ce.Option != "BufferSize" {
		t.Errorf("err = %v, want a *ConfigError naming BufferSize", err)
	}
}

// TestHardenedDefaults: a zero Config gets a 10 s write timeout and a
// 5 min idle timeout; negative values turn them off.
func TestHardenedDefaults(t *testing.T) {
	cfg := binproto.MustProtocol(binproto.Config{Types: quickTypes()}).Config()
	if cfg.WriteTimeout != 10*time.Second || cfg.IdleTimeout != 5*time.Minute || cfg.ReadTimeout != 30*time.Second {
		t.Errorf("defaults: write %v, idle %v, read %v", cfg.WriteTimeout, cfg.IdleTimeout, cfg.ReadTimeout)
	}
	off := binproto.MustProtocol(binproto.Config{Types: quickTypes(), IdleTimeout: -1, WriteTimeout: -1}).Config()
	if off.IdleTimeout >= 0 || off.WriteTimeout >= 0 {
		t.Errorf("negative kept as off: idle %v, write %v", off.IdleTimeout, off.WriteTimeout)
	}
}
