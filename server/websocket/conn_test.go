package websocket

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

const pub = "PUB foo 5\r\nhello\r\n"

// The payload of data frames comes out whatever the frames and reads look
// like: one frame or many, fragmented, text or binary, with pings and pongs
// between fragments, read through buffers of any size and from socket reads
// that cut anywhere.
func TestReadPayload(t *testing.T) {
	long := strings.Repeat("PUB big 100\r\n"+strings.Repeat("x", 100)+"\r\n", 1000) // 16-bit and 64-bit lengths
	for _, tc := range []struct {
		name    string
		stream  []byte
		want    string
		pongs   []string
		comp    bool
		wantErr int // close code of the error that ends the stream (0: EOF)
	}{
		{name: "one binary frame", stream: clientFrame(frameSpec{op: opBinary, payload: []byte(pub)}), want: pub},
		{name: "a text frame", stream: clientFrame(frameSpec{op: opText, payload: []byte(pub)}), want: pub},
		{name: "several frames", stream: join(
			clientFrame(frameSpec{op: opBinary, payload: []byte("PUB a 1\r\n")}),
			clientFrame(frameSpec{op: opBinary, payload: []byte("x\r\nPING\r\n")})), want: "PUB a 1\r\nx\r\nPING\r\n"},
		{name: "empty frames", stream: join(
			clientFrame(frameSpec{op: opBinary}),
			clientFrame(frameSpec{op: opBinary, payload: []byte("PING\r\n")}),
			clientFrame(frameSpec{op: opBinary})), want: "PING\r\n"},
		{name: "long frames", stream: join(
			clientFrame(frameSpec{op: opBinary, payload: []byte(long[:1000])}),
			clientFrame(frameSpec{op: opBinary, payload: []byte(long[1000:])})), want: long},
		{name: "fragmented, a ping between", stream: join(
			clientFrame(frameSpec{op: opBinary, payload: []byte("PUB a"), notFin: true}),
			clientFrame(frameSpec{op: opPing, payload: []byte("are you there")}),
			clientFrame(frameSpec{op: opContinuation, payload: []byte(" 1\r\n"), notFin: true}),
			clientFrame(frameSpec{op: opPong, payload: []byte("ignored")}),
			clientFrame(frameSpec{op: opContinuation, payload: []byte("x\r\n")})),
			want: "PUB a 1\r\nx\r\n", pongs: []string{"are you there"}},
		{name: "compressed", comp: true, stream: join(
			clientFrame(frameSpec{op: opBinary, rsv1: true, payload: deflateMsg(t, []byte(long))}),
			clientFrame(frameSpec{op: opBinary, payload: []byte("PING\r\n")}),
			clientFrame(frameSpec{op: opBinary, rsv1: true, payload: deflateMsg(t, []byte(pub))})),
			want: long + "PING\r\n" + pub},
		{name: "compressed and fragmented", comp: true, stream: func() []byte {
			z := deflateMsg(t, []byte(long))
			return join(
				clientFrame(frameSpec{op: opBinary, rsv1: true, payload: z[:10], notFin: true}),
				clientFrame(frameSpec{op: opPing, payload: []byte("p")}),
				clientFrame(frameSpec{op: opContinuation, payload: z[10:]}))
		}(), want: long, pongs: []string{"p"}},
		{name: "close from the client", stream: join(
			clientFrame(frameSpec{op: opBinary, payload: []byte(pub)}),
			clientFrame(frameSpec{op: opClose, payload: []byte("\x03\xe8bye")}),
			clientFrame(frameSpec{op: opBinary, payload: []byte("ignored after close")})),
			want: pub, wantErr: CloseNormal},
	} {
		for _, rsize := range []int{1, 7, 64, 4096, 1 << 20} {
			for _, cut := range []int{1, 3, 13, 1000, 1 << 20} {
				sc := newScriptConn(split(tc.stream, cut)...)
				c := NewConn(sc, nil, Config{Compress: tc.comp})
				got, err := readAll(c, rsize)
				if string(got) != tc.want {
					t.Fatalf("%s (reads of %d, socket cut every %d): got %d bytes %.80q, want %d bytes %.80q", tc.name, rsize, cut, len(got), got, len(tc.want), tc.want)
				}
				var ce *CloseError
				switch {
				case tc.wantErr == 0 && err != io.EOF:
					t.Fatalf("%s: ended with %v, want EOF", tc.name, err)
				case tc.wantErr != 0 && (!errors.As(err, &ce) || ce.Code != tc.wantErr || !ce.Peer):
					t.Fatalf("%s: ended with %v, want the client's close %d", tc.name, err, tc.wantErr)
				}
				var pongs []string
				for _, f := range readServerFrames(t, sc.written()) {
					if f.op == opPong {
						pongs = append(pongs, string(f.payload))
					}
				}
				if strings.Join(pongs, "|") != strings.Join(tc.pongs, "|") {
					t.Fatalf("%s: pongs %q, want %q", tc.name, pongs, tc.pongs)
				}
			}
		}
	}
}

// Everything RFC 6455 forbids from a client ends the connection with a
// close frame that says why: protocol error (1002) for the framing, 1007
// for a close reason that is not UTF-8, 1009 for a frame over the limit.
func TestProtocolErrors(t *testing.T) {
	ok := clientFrame(frameSpec{op: opBinary, payload: []byte(pub)})
	for _, tc := range []struct {
		name   string
		frame  []byte
		comp   bool
		code   int
		reason string
	}{
		{"unmasked frame", clientFrame(frameSpec{op: opBinary, payload: []byte("PING\r\n"), unmasked: true}), false, CloseProtocolError, "mask bit missing"},
		{"opcode 3", clientFrame(frameSpec{op: 3, payload: []byte("x")}), false, CloseProtocolError, "unknown opcode 3"},
		{"opcode 0xB", clientFrame(frameSpec{op: 0xB}), false, CloseProtocolError, "unknown opcode 11"},
		{"RSV2", clientFrame(frameSpec{op: opBinary, rsv2: true}), false, CloseProtocolError, "reserved bits RSV2/RSV3 set"},
		{"RSV1 without compression", clientFrame(frameSpec{op: opBinary, rsv1: true, payload: []byte("x")}), false, CloseProtocolError, "compressed frame received without negotiated permessage-deflate"},
		{"continuation first", clientFrame(frameSpec{op: opContinuation, payload: []byte("x")}), false, CloseProtocolError, "invalid continuation frame"},
		{"new message inside a fragmented one", join(
			clientFrame(frameSpec{op: opBinary, payload: []byte("PI"), notFin: true}),
			clientFrame(frameSpec{op: opBinary, payload: []byte("NG\r\n")})), false, CloseProtocolError,
			"new message started before final frame for previous message was received"},
		{"fragmented ping", clientFrame(frameSpec{op: opPing, notFin: true}), false, CloseProtocolError, "control frame does not have final bit set"},
		{"long ping", clientFrame(frameSpec{op: opPing, payload: bytes.Repeat([]byte("a"), 126)}), false, CloseProtocolError, "control frame length bigger than maximum allowed of 125 bytes"},
		{"compressed ping", clientFrame(frameSpec{op: opPing, rsv1: true}), true, CloseProtocolError, "compressed control frame"},
		{"RSV1 on a continuation", join(
			clientFrame(frameSpec{op: opBinary, rsv1: true, payload: []byte{1}, notFin: true}),
			clientFrame(frameSpec{op: opContinuation, rsv1: true, payload: []byte{2}})), true, CloseProtocolError, "invalid continuation frame"},
		{"top bit of a 64-bit length", []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}, false, CloseProtocolError, "invalid payload length"},
		{"frame over the limit", []byte{0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}, false, CloseMessageTooBig, "frame of 4294967296 bytes, over the limit of 1048576"},
		{"close with 1 byte", clientFrame(frameSpec{op: opClose, payload: []byte{3}}), false, CloseProtocolError, "close frame payload cannot be 1 byte"},
		{"close code 1005", clientFrame(frameSpec{op: opClose, payload: []byte{3, 0xed}}), false, CloseProtocolError, "invalid close status code 1005"},
		{"close reason not UTF-8", clientFrame(frameSpec{op: opClose, payload: []byte{3, 0xe8, 0xff, 0xfe}}), false, CloseInvalidPayload, "invalid utf8 body in close frame"},
		{"compressed garbage", clientFrame(frameSpec{op: opBinary, rsv1: true, payload: []byte("not deflate at all")}), true, CloseInvalidPayload, "invalid compressed data"},
	} {
		sc := newScriptConn(ok, tc.frame, ok)
		c := NewConn(sc, nil, Config{Compress: tc.comp, MaxFrame: 1 << 20})
		got, err := readAll(c, 4096)
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Peer || ce.Code != tc.code || ce.Reason != tc.reason {
			t.Errorf("%s: ended with %v, want close %d %q", tc.name, err, tc.code, tc.reason)
			continue
		}
		if !strings.HasPrefix(string(got), pub) || strings.Count(string(got), pub) != 1 {
			t.Errorf("%s: payload %q: want the frame before and nothing after", tc.name, got)
		}
		// The close frame goes out when the connection is closed, after
		// what the server had queued.
		_, _ = c.Write([]byte("-ERR 'queued before'\r\n"))
		_ = c.Close()
		frames := readServerFrames(t, sc.written())
		last := frames[len(frames)-1]
		if code, reason := last.closeCode(); last.op != opClose || code != tc.code || reason != tc.reason {
			t.Errorf("%s: last frame op %d %d %q, want close %d %q", tc.name, last.op, code, reason, tc.code, tc.reason)
		}
		if len(frames) < 2 || string(frames[len(frames)-2].payload) != "-ERR 'queued before'\r\n" {
			t.Errorf("%s: the queued data did not go out before the close frame: %+v", tc.name, frames)
		}
	}
}

// A client's close is echoed at once (its status and reason, as nats-server
// does) and nothing follows it; an empty close gets an empty close.
func TestClientClose(t *testing.T) {
	for _, tc := range []struct {
		payload, echo []byte
	}{
		{[]byte("\x03\xe8bye"), []byte("\x03\xe8bye")},
		{[]byte("\x0f\xa0app"), []byte("\x0f\xa0app")},
		{nil, nil},
	} {
		sc := newScriptConn(clientFrame(frameSpec{op: opClose, payload: tc.payload}))
		c := NewConn(sc, nil, Config{CloseStatus: func() (int, string) { return CloseGoingAway, "not sent" }})
		if _, err := readAll(c, 64); err == nil {
			t.Fatal("no error after a close")
		}
		if _, err := c.Write([]byte("late")); err == nil {
			t.Error("a frame was written after the close")
		}
		_ = c.Close()
		frames := readServerFrames(t, sc.written())
		if len(frames) != 1 || frames[0].op != opClose || !bytes.Equal(frames[0].payload, tc.echo) {
			t.Errorf("close %q: server sent %+v, want one close %q", tc.payload, frames, tc.echo)
		}
	}
}

// Write and WriteBuffers send one unmasked binary frame per call; with
// compression, payloads of compressMin bytes or more go out compressed.
func TestWrite(t *testing.T) {
	big := bytes.Repeat([]byte("MSG foo 1 5\r\nhello\r\n"), 5000)
	for _, comp := range []bool{false, true} {
		sc := newScriptConn()
		c := NewConn(sc, nil, Config{Compress: comp})
		_, _ = c.Write([]byte("PONG\r\n"))
		if n, err := c.WriteBuffers([][]byte{big[:40000], big[40000:], nil}); err != nil || n != int64(len(big)) {
			t.Fatalf("WriteBuffers = %d, %v", n, err)
		}
		frames := readServerFrames(t, sc.written())
		if len(frames) != 2 {
			t.Fatalf("compress %v: %d frames, want 2", comp, len(frames))
		}
		if f := frames[0]; f.op != opBinary || !f.fin || f.compressed || string(f.payload) != "PONG\r\n" {
			t.Errorf("compress %v: first frame %+v", comp, f)
		}
		if f := frames[1]; f.op != opBinary || !f.fin || f.compressed != comp || !bytes.Equal(f.payload, big) {
			t.Errorf("compress %v: second frame op %d compressed %v, %d bytes", comp, f.op, f.compressed, len(f.payload))
		}
	}
}

// A write over MaxWriteFrame goes out as several frames of at most that
// many bytes (nats.go closes the connection on a frame over 8 ×
// max_payload): chunks are cut where a frame ends, compressed or not, and
// the frames joined (inflated) give the bytes written. A write at the
// limit is one frame; SetMaxWriteFrame applies from the next write.
func TestWriteSplitsFrames(t *testing.T) {
	big := bytes.Repeat([]byte("MSG foo 1 5\r\nhello\r\n"), 3000) // 60,000 bytes
	for _, tc := range []struct {
		name   string
		chunks []int // sizes of the chunks of big, in order
		limit  int
		frames int // uncompressed
	}{
		{"one chunk", []int{len(big)}, 16 << 10, 4},
		{"chunks across frame ends", []int{1, 16383, 2, 30000, len(big) - 46386}, 16 << 10, 4},
		{"at the limit", []int{30000, 30000}, len(big), 1},
		{"a limit under the minimum", []int{len(big)}, 100, 15},
	} {
		for _, comp := range []bool{false, true} {
			var bufs [][]byte
			rest := big
			for _, n := range tc.chunks {
				bufs, rest = append(bufs, rest[:n]), rest[n:]
			}
			sc := newScriptConn()
			c := NewConn(sc, nil, Config{Compress: comp, MaxWriteFrame: tc.limit})
			if n, err := c.WriteBuffers(bufs); err != nil || n != int64(len(big)) {
				t.Fatalf("%s: WriteBuffers = %d, %v", tc.name, n, err)
			}
			frames := readServerFrames(t, sc.written())
			var got []byte
			limit := max(tc.limit, minWriteFrame)
			for _, f := range frames {
				if len(f.raw) > limit || !f.fin || f.op != opBinary || f.compressed != comp {
					t.Fatalf("%s (compress %v): a frame of %d bytes (limit %d), fin %v op %d compressed %v", tc.name, comp, len(f.raw), limit, f.fin, f.op, f.compressed)
				}
				got = append(got, f.payload...)
			}
			if !bytes.Equal(got, big) {
				t.Errorf("%s (compress %v): %d bytes came out of %d frames, want the %d written", tc.name, comp, len(got), len(frames), len(big))
			}
			if !comp && len(frames) != tc.frames {
				t.Errorf("%s: %d frames, want %d", tc.name, len(frames), tc.frames)
			}
		}
	}
	sc := newScriptConn()
	c := NewConn(sc, nil, Config{})
	_, _ = c.Write(big)
	c.SetMaxWriteFrame(20000)
	_, _ = c.Write(big)
	if frames := readServerFrames(t, sc.written()); len(frames) != 4 || len(frames[0].raw) != len(big) || len(frames[1].raw) != 20000 {
		t.Errorf("after SetMaxWriteFrame: %d frames", len(frames))
	}
}

// The limit follows what nats.go accepts for the max_payload a client was
// told.
func TestMaxWriteFrameFor(t *testing.T) {
	for mp, want := range map[int]int{1 << 20: 8 << 20, 1024: 8192, 8 << 20: 64 << 20, 64 << 20: 64 << 20, 0: 64 << 20} {
		if got := MaxWriteFrameFor(mp); got != want {
			t.Errorf("MaxWriteFrameFor(%d) = %d, want %d", mp, got, want)
		}
	}
}

// Close sends the status Config.CloseStatus gives when the reader found
// nothing wrong; code 0 sends nothing.
func TestCloseStatus(t *testing.T) {
	for _, tc := range []struct {
		code   int
		reason string
	}{{CloseGoingAway, "Server Shutdown"}, {ClosePolicyViolation, strings.Repeat("é", 100)}, {0, ""}} {
		sc := newScriptConn()
		c := NewConn(sc, nil, Config{CloseStatus: func() (int, string) { return tc.code, tc.reason }})
		_ = c.Close()
		_ = c.Close()
		frames := readServerFrames(t, sc.written())
		if tc.code == 0 {
			if len(frames) != 0 {
				t.Errorf("code 0: sent %+v", frames)
			}
			continue
		}
		if len(frames) != 1 {
			t.Fatalf("%d frames, want one close", len(frames))
		}
		code, reason := frames[0].closeCode()
		if code != tc.code || !strings.HasPrefix(tc.reason, reason) || len(frames[0].payload) > 125 || !utf8Valid(reason) {
			t.Errorf("close %d %q (%d bytes), want %d and a UTF-8 prefix of %q", code, reason, len(frames[0].payload), tc.code, tc.reason)
		}
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// Bytes read past the upgrade request are the start of the frame stream.
func TestBufferedAfterUpgrade(t *testing.T) {
	f := clientFrame(frameSpec{op: opBinary, payload: []byte(pub)})
	sc := newScriptConn(f[9:])
	c := NewConn(sc, f[:9], Config{})
	got, err := readAll(c, 512)
	if string(got) != pub || err != io.EOF {
		t.Fatalf("got %q, %v", got, err)
	}
}
