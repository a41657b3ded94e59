package websocket

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecoder feeds arbitrary bytes to the frame decoder as a client's
// stream: it must not panic or hang, must give the same payload and the
// same ending whatever the socket's reads and the caller's buffer sizes,
// and what it answers (pongs, a close) must be well-formed server frames.
func FuzzDecoder(f *testing.F) {
	seeds := [][]byte{
		clientFrame(frameSpec{op: opBinary, payload: []byte(pub)}),
		join(clientFrame(frameSpec{op: opBinary, payload: []byte("PUB a"), notFin: true}),
			clientFrame(frameSpec{op: opPing, payload: []byte("p")}),
			clientFrame(frameSpec{op: opContinuation, payload: []byte(" 1\r\nx\r\n")})),
		clientFrame(frameSpec{op: opBinary, rsv1: true, payload: deflateMsg(f, []byte(pub+pub))}),
		clientFrame(frameSpec{op: opClose, payload: []byte("\x03\xe8bye")}),
		clientFrame(frameSpec{op: opBinary, unmasked: true, payload: []byte("x")}),
		{0x82, 0xfe, 0x01, 0x00, 1, 2, 3, 4},
		{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4},
	}
	for _, s := range seeds {
		f.Add(s, uint16(3), uint16(7), true)
		f.Add(s, uint16(100), uint16(512), false)
	}
	f.Fuzz(func(t *testing.T, in []byte, cut, rsize uint16, comp bool) {
		if len(in) > 8192 {
			in = in[:8192] // keeps minimizing quick
		}
		run := func(cut, rsize int) ([]byte, string, []byte) {
			sc := newScriptConn(split(in, max(cut, 1))...)
			c := NewConn(sc, nil, Config{Compress: comp, MaxFrame: 1 << 20})
			out, err := readAll(c, max(rsize, 1))
			_ = c.Close()
			var ce *CloseError
			end := "EOF"
			if errors.As(err, &ce) {
				end = ce.Error()
			} else if err.Error() != "EOF" {
				t.Fatalf("ended with %v, want EOF or a *CloseError", err)
			}
			return out, end, sc.written()
		}
		whole, wend, wwritten := run(len(in), 1<<16)
		parts, pend, pwritten := run(int(cut), int(rsize))
		if !bytes.Equal(whole, parts) || wend != pend {
			t.Fatalf("reads cut at %d into %d-byte buffers differ:\nwhole %q %s\nparts %q %s", cut, rsize, whole, wend, parts, pend)
		}
		if !bytes.Equal(wwritten, pwritten) {
			t.Fatalf("answers differ:\nwhole % x\nparts % x", wwritten, pwritten)
		}
		for _, fr := range readServerFrames(t, wwritten) {
			if fr.op != opPong && fr.op != opClose {
				t.Fatalf("the server sent op %d", fr.op)
			}
			if len(fr.payload) > maxControlPayload {
				t.Fatalf("control frame of %d bytes", len(fr.payload))
			}
		}
	})
}

// FuzzRoundTrip frames a payload as a client may (fragments of any size,
// compressed or not, pings between) and checks it comes out whole.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte(pub), uint8(3), true, uint8(2))
	f.Add(bytes.Repeat([]byte("MSG x 1 2\r\nab\r\n"), 100), uint8(200), false, uint8(0))
	f.Fuzz(func(t *testing.T, payload []byte, frag uint8, comp bool, pings uint8) {
		if len(payload) > 4096 {
			payload = payload[:4096] // keeps minimizing quick
		}
		body := payload
		if comp {
			body = deflateMsg(t, payload)
		}
		size := max(int(frag), 1)
		var stream []byte
		pieces := split(body, size)
		for i, p := range pieces {
			fs := frameSpec{op: opContinuation, payload: p, notFin: i < len(pieces)-1, key: [4]byte{byte(i), 9, byte(size), 3}}
			if i == 0 {
				fs.op, fs.rsv1 = opBinary, comp
			}
			stream = append(stream, clientFrame(fs)...)
			if i < int(pings) {
				stream = append(stream, clientFrame(frameSpec{op: opPing, payload: []byte{byte(i)}})...)
			}
		}
		c := NewConn(newScriptConn(split(stream, 5)...), nil, Config{Compress: comp})
		got, err := readAll(c, 33)
		if !bytes.Equal(got, payload) || err.Error() != "EOF" {
			t.Fatalf("got %q (%v), want %q", got, err, payload)
		}
	})
}
