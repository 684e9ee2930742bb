// Generator for tests/unit/obfs4_vectors_framing.h: known answers from
// obfs4proxy 0.0.14's own drbg, probdist and framing packages (and Go
// 1.19's math/rand over the DRBG, as obfs4proxy uses it), printed as a C
// header. Every input is fixed, so the output is reproducible.
//
// Run through scripts/obfs4_vectors.sh framing (it places this file
// inside obfs4proxy's source tree).
package main

import (
	"bytes"
	"fmt"
	"math"
	"math/rand"
	"os"
	"reflect"
	"strings"

	"github.com/dchest/siphash"
	"gitlab.com/yawning/obfs4.git/common/drbg"
	"gitlab.com/yawning/obfs4.git/common/probdist"
	"gitlab.com/yawning/obfs4.git/transports/obfs4/framing"
)

var out strings.Builder

func p(format string, a ...interface{}) { fmt.Fprintf(&out, format, a...) }

func hexBytes(b []byte, indent string) string {
	var s strings.Builder
	for i, c := range b {
		if i%16 == 0 {
			if i > 0 {
				s.WriteString("\n")
			}
			s.WriteString(indent)
		} else {
			s.WriteString(" ")
		}
		fmt.Fprintf(&s, "0x%02x,", c)
	}
	return s.String()
}

func ints(v []int, indent string) string {
	var s strings.Builder
	for i, x := range v {
		if i%12 == 0 {
			if i > 0 {
				s.WriteString("\n")
			}
			s.WriteString(indent)
		} else {
			s.WriteString(" ")
		}
		fmt.Fprintf(&s, "%d,", x)
	}
	return s.String()
}

func u64s(v []uint64, indent string) string {
	var s strings.Builder
	for i, x := range v {
		if i%3 == 0 {
			if i > 0 {
				s.WriteString("\n")
			}
			s.WriteString(indent)
		} else {
			s.WriteString(" ")
		}
		fmt.Fprintf(&s, "0x%016xULL,", x)
	}
	return s.String()
}

// pattern is deterministic filler: byte i of a buffer tagged tag.
func pattern(n int, tag byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ tag
	}
	return b
}

func seedOf(b []byte) *drbg.Seed {
	s, err := drbg.SeedFromBytes(b)
	if err != nil {
		panic(err)
	}
	return s
}

func newRand(seed []byte) *rand.Rand {
	d, err := drbg.NewHashDrbg(seedOf(seed))
	if err != nil {
		panic(err)
	}
	return rand.New(d)
}

// The DRBG seeds every section draws from.
var seeds = [][]byte{
	pattern(drbg.SeedLength, 0x00),
	{0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88,
		0x09, 0xcf, 0x4f, 0x3c, 0x76, 0x2e, 0x71, 0x60, 0xf3, 0x8b, 0x4d, 0xa5},
	bytes.Repeat([]byte{0xff}, drbg.SeedLength),
}

func genSiphash() {
	// Key 0 is the SipHash paper's: its digests match the reference ones.
	key0 := make([]byte, 16)
	for i := range key0 {
		key0[i] = byte(i)
	}
	keys := [][]byte{key0, seeds[1][:16]}
	p("/* SipHash-2-4 (github.com/dchest/siphash, as HashDrbg uses it):\n")
	p(" * digest of message bytes 0, 1, ..., len-1 for len = 0..64. */\n")
	p("static const uint8_t vec_siphash_key[%d][16] = {\n", len(keys))
	for _, k := range keys {
		p("  {\n%s\n  },\n", hexBytes(k, "    "))
	}
	p("};\n")
	p("static const uint64_t vec_siphash_digest[%d][65] = {\n", len(keys))
	for _, k := range keys {
		msg := make([]byte, 64)
		for i := range msg {
			msg[i] = byte(i)
		}
		var d []uint64
		for n := 0; n <= 64; n++ {
			h := siphash.New(k)
			h.Write(msg[:n])
			d = append(d, h.Sum64())
		}
		p("  {\n%s\n  },\n", u64s(d, "    "))
	}
	p("};\n\n")
}

const nBlocks = 20

func genDrbg() {
	p("/* HashDrbg seeds (SipHash key | first OFB block). */\n")
	p("static const uint8_t vec_drbg_seed[%d][%d] = {\n", len(seeds), drbg.SeedLength)
	for _, s := range seeds {
		p("  {\n%s\n  },\n", hexBytes(s, "    "))
	}
	p("};\n")
	p("/* NextBlock() x %d from each seed. */\n", nBlocks)
	p("static const uint8_t vec_drbg_block[%d][%d][8] = {\n", len(seeds), nBlocks)
	for _, s := range seeds {
		d, _ := drbg.NewHashDrbg(seedOf(s))
		p("  {\n")
		for i := 0; i < nBlocks; i++ {
			p("    {%s},\n", strings.TrimSpace(hexBytes(d.NextBlock(), "")))
		}
		p("  },\n")
	}
	p("};\n")
	p("/* Int63() x %d from each seed. */\n", nBlocks)
	p("static const int64_t vec_drbg_int63[%d][%d] = {\n", len(seeds), nBlocks)
	for _, s := range seeds {
		d, _ := drbg.NewHashDrbg(seedOf(s))
		var v []uint64
		for i := 0; i < nBlocks; i++ {
			v = append(v, uint64(d.Int63()))
		}
		p("  {\n%s\n  },\n", u64s(v, "    "))
	}
	p("};\n\n")
}

const nDraws = 16

var intnN = []int{1, 2, 3, 7, 8, 16, 60, 100, 101, 1024, 1431, 1449, 1<<30 + 1, 1<<31 - 1}
var int63nN = []int64{1, 1 << 40, 1000, 1<<62 + 1, 1<<63 - 1}

func genMathRand() {
	p("/* math/rand over HashDrbg: rand.New(NewHashDrbg(seed)), a fresh one for\n")
	p(" * each (seed, n); %d draws each. */\n", nDraws)
	p("static const int vec_intn_n[%d] = {%s};\n", len(intnN), strings.TrimSpace(ints(intnN, "")))
	p("static const int vec_intn[%d][%d][%d] = {\n", len(seeds), len(intnN), nDraws)
	for _, s := range seeds {
		p("  {\n")
		for _, n := range intnN {
			r := newRand(s)
			var v []int
			for i := 0; i < nDraws; i++ {
				v = append(v, r.Intn(n))
			}
			p("    {%s},\n", strings.TrimSpace(ints(v, "")))
		}
		p("  },\n")
	}
	p("};\n")
	p("static const int64_t vec_int63n_n[%d] = {", len(int63nN))
	for _, n := range int63nN {
		p("%dLL, ", n)
	}
	p("};\n")
	p("static const int64_t vec_int63n[%d][%d][%d] = {\n", len(seeds), len(int63nN), nDraws)
	for _, s := range seeds {
		p("  {\n")
		for _, n := range int63nN {
			r := newRand(s)
			var v []uint64
			for i := 0; i < nDraws; i++ {
				v = append(v, uint64(r.Int63n(n)))
			}
			p("    {\n%s\n    },\n", u64s(v, "      "))
		}
		p("  },\n")
	}
	p("};\n")
	p("/* Float64() x 32 per seed, as IEEE-754 bit patterns. */\n")
	p("static const uint64_t vec_float64_bits[%d][32] = {\n", len(seeds))
	for _, s := range seeds {
		r := newRand(s)
		var v []uint64
		for i := 0; i < 32; i++ {
			v = append(v, math.Float64bits(r.Float64()))
		}
		p("  {\n%s\n  },\n", u64s(v, "    "))
	}
	p("};\n")
	// Perm(1449) is what genValues draws for the packet length table.
	p("/* Perm(n) from seed 0, then the Int63() that follows it (so the\n")
	p(" * number of draws is checked too). */\n")
	for _, n := range []int{10, 101, 1449} {
		r := newRand(seeds[0])
		perm := r.Perm(n)
		next := r.Int63()
		p("static const int vec_perm%d[%d] = {\n%s\n};\n", n, n, ints(perm, "  "))
		p("static const int64_t vec_perm%d_next = %dLL;\n", n, next)
	}
	p("\n")
}

type distCase struct {
	seed     int
	min, max int
	biased   bool
}

func genProbdist() {
	var cases []distCase
	for si := range seeds[:2] {
		for _, mm := range [][2]int{{0, framing.MaximumSegmentLength}, {0, 100}, {10, 14}} {
			for _, b := range []bool{false, true} {
				cases = append(cases, distCase{si, mm[0], mm[1], b})
			}
		}
	}
	p("/* probdist.New(seed, min, max, biased): WeightedDist's tables, read\n")
	p(" * out of its unexported fields. Doubles as bit patterns. */\n")
	p("typedef struct {\n  int seed, min, max;\n  bool biased;\n  int n;\n")
	p("  int values[100];\n  uint64_t weights[100];\n  uint64_t prob[100];\n  int alias[100];\n")
	p("} vec_probdist_t;\n")
	p("static const vec_probdist_t vec_probdist[%d] = {\n", len(cases))
	for _, c := range cases {
		w := probdist.New(seedOf(seeds[c.seed]), c.min, c.max, c.biased)
		rv := reflect.ValueOf(w).Elem()
		values, weights := rv.FieldByName("values"), rv.FieldByName("weights")
		prob, alias := rv.FieldByName("prob"), rv.FieldByName("alias")
		n := values.Len()
		var vs, as []int
		var ws, ps []uint64
		for i := 0; i < n; i++ {
			vs = append(vs, int(values.Index(i).Int()))
			as = append(as, int(alias.Index(i).Int()))
			ws = append(ws, math.Float64bits(weights.Index(i).Float()))
			ps = append(ps, math.Float64bits(prob.Index(i).Float()))
		}
		p("  {%d, %d, %d, %v, %d,\n", c.seed, c.min, c.max, c.biased, n)
		p("   {\n%s\n   },\n", ints(vs, "    "))
		p("   {\n%s\n   },\n", u64s(ws, "    "))
		p("   {\n%s\n   },\n", u64s(ps, "    "))
		p("   {\n%s\n   }},\n", ints(as, "    "))
	}
	p("};\n")
	p("/* A server's probe close delay: rand.New(NewHashDrbg(drbg-seed)).Intn(60). */\n")
	p("static const int vec_close_delay[%d] = {", len(seeds))
	for _, s := range seeds {
		p("%d, ", newRand(s).Intn(60))
	}
	p("};\n\n")
}

// A packet as obfs4's makePacket lays it out.
type packet struct {
	typ     byte
	payload []byte
	pad     int
}

func (k packet) bytes() []byte {
	b := []byte{k.typ, byte(len(k.payload) >> 8), byte(len(k.payload))}
	b = append(b, k.payload...)
	return append(b, make([]byte, k.pad)...)
}

func encodeAll(key []byte, frames [][]byte) [][]byte {
	enc := framing.NewEncoder(key)
	var res [][]byte
	for _, f := range frames {
		buf := make([]byte, framing.MaximumSegmentLength)
		n, err := enc.Encode(buf, f)
		if err != nil {
			panic(err)
		}
		res = append(res, buf[:n])
	}
	return res
}

// roundTrip decodes the concatenated frames with framing.Decoder and
// checks that each frame payload comes back.
func roundTrip(key []byte, wire [][]byte, want [][]byte) {
	dec := framing.NewDecoder(key)
	var stream bytes.Buffer
	for _, w := range wire {
		stream.Write(w)
	}
	for i := range want {
		var b [framing.MaximumFramePayloadLength]byte
		n, err := dec.Decode(b[:], &stream)
		if err != nil || !bytes.Equal(b[:n], want[i]) {
			panic(fmt.Sprintf("round trip of frame %d: %v", i, err))
		}
	}
	if stream.Len() != 0 {
		panic("round trip left bytes")
	}
}

func genFrames() {
	key := pattern(framing.KeyLength, 0x5a)
	p("/* Frames: framing.NewEncoder(key), Encode(frame, payload) in order.\n")
	p(" * key = secretbox key | nonce prefix | DRBG seed. */\n")
	p("static const uint8_t vec_frame_key[%d] = {\n%s\n};\n", len(key), hexBytes(key, "  "))

	// Encode() takes a frame payload: arbitrary bytes, not a packet.
	raw := [][]byte{{}, {0x42}, pattern(framing.MaximumFramePayloadLength-3, 0x01),
		pattern(framing.MaximumFramePayloadLength, 0x02)}
	rawWire := encodeAll(key, raw)
	roundTrip(key, rawWire, raw)
	p("/* Encode() of raw frame payloads (not packets), one encoder. */\n")
	p("typedef struct {\n  size_t len;\n  const uint8_t *payload;\n  size_t wire_len;\n")
	p("  const uint8_t *wire;\n} vec_raw_frame_t;\n")
	for i := range raw {
		p("static const uint8_t vec_raw_payload%d[%d] = {\n%s\n};\n", i, len(raw[i])+1,
			hexBytes(append(raw[i], 0), "  "))
		p("static const uint8_t vec_raw_wire%d[%d] = {\n%s\n};\n", i, len(rawWire[i]),
			hexBytes(rawWire[i], "  "))
	}
	p("static const vec_raw_frame_t vec_raw_frame[%d] = {\n", len(raw))
	for i := range raw {
		p("  {%d, vec_raw_payload%d, %d, vec_raw_wire%d},\n", len(raw[i]), i, len(rawWire[i]), i)
	}
	p("};\n")

	// Packets as makePacket builds them, through one encoder: a stream.
	pkts := []packet{
		{0, nil, 0},
		{0, []byte{0x42}, 0},
		{0, pattern(1427, 0x03), 0},
		{0, pattern(100, 0x04), 200},
		{1, pattern(24, 0x05), 0},       // PRNG seed
		{0, nil, 1427},                  // padding only
		{7, pattern(5, 0x06), 3},        // unknown type
		{1, pattern(23, 0x07), 0},       // seed of the wrong length
		{0, pattern(1, 0x08), 1426},     // full frame, 1 byte
		{0, pattern(1000, 0x09), 427},   // full frame
	}
	var frames [][]byte
	for _, k := range pkts {
		frames = append(frames, k.bytes())
	}
	wire := encodeAll(key, frames)
	roundTrip(key, wire, frames)
	p("/* makePacket-equivalent packets (type | length | payload | zero pad),\n")
	p(" * encoded in this order by one encoder: a frame stream. */\n")
	p("typedef struct {\n  uint8_t type;\n  size_t len;\n  const uint8_t *payload;\n")
	p("  size_t pad;\n  size_t wire_len;\n  const uint8_t *wire;\n} vec_packet_t;\n")
	for i, k := range pkts {
		p("static const uint8_t vec_pkt_payload%d[%d] = {\n%s\n};\n", i, len(k.payload)+1,
			hexBytes(append(k.payload, 0), "  "))
		p("static const uint8_t vec_pkt_wire%d[%d] = {\n%s\n};\n", i, len(wire[i]),
			hexBytes(wire[i], "  "))
	}
	p("static const vec_packet_t vec_packet[%d] = {\n", len(pkts))
	for i, k := range pkts {
		p("  {%d, %d, vec_pkt_payload%d, %d, %d, vec_pkt_wire%d},\n", k.typ, len(k.payload), i,
			k.pad, len(wire[i]), i)
	}
	p("};\n")
}

func main() {
	p("/* obfs4_vectors_framing.h: GENERATED, do not edit. Known answers from\n")
	p(" * obfs4proxy 0.0.14's drbg, probdist and framing code and Go's math/rand.\n")
	p(" * Regenerate with:\n")
	p(" *   OBFS4_SRC=/tmp/obfs4src/obfs4-obfs4proxy-0.0.14 scripts/obfs4_vectors.sh framing\n")
	p(" * (generator: tests/vectors/obfs4/framing/main.go). */\n")
	p("#ifndef PTD_TESTS_UNIT_OBFS4_VECTORS_FRAMING_H\n#define PTD_TESTS_UNIT_OBFS4_VECTORS_FRAMING_H\n\n")
	p("#include <stdbool.h>\n#include <stddef.h>\n#include <stdint.h>\n\n")
	genSiphash()
	genDrbg()
	genMathRand()
	genProbdist()
	genFrames()
	p("\n#endif\n")
	os.Stdout.WriteString(out.String())
}
