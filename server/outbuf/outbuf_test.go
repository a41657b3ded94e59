package outbuf

import (
	"bytes"
	"net"
	"testing"
)

func TestQueueWriteTakeDone(t *testing.T) {
	var q Queue
	var want bytes.Buffer
	for i := range 5000 {
		line := []byte("MSG orders.eu.123 1 ")
		c := q.Tail(64)
		c = append(c, line...)
		c = append(c, byte('0'+i%10), '\r', '\n')
		q.Commit(c)
		want.Write(line)
		want.Write([]byte{byte('0' + i%10), '\r', '\n'})
		payload := bytes.Repeat([]byte{byte(i)}, i%3000)
		q.Write(payload)
		want.Write(payload)
	}
	if q.Queued() != want.Len() || q.Pending() != want.Len() {
		t.Fatalf("queued %d pending %d, want %d", q.Queued(), q.Pending(), want.Len())
	}
	bufs := q.Take()
	if q.Queued() != 0 || q.Pending() != want.Len() {
		t.Fatalf("after Take: queued %d pending %d", q.Queued(), q.Pending())
	}
	got := bytes.Join(bufs, nil)
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("bytes differ")
	}
	for _, b := range bufs {
		if cap(b) > ChunkSize {
			t.Fatalf("a chunk of %d bytes: small appends must not make big chunks", cap(b))
		}
	}
	q.Done(bufs)
	if q.Pending() != 0 {
		t.Fatalf("pending %d after Done", q.Pending())
	}
}

func TestWriteToSocket(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var q Queue
	q.Write(bytes.Repeat([]byte("x"), 3*ChunkSize+7))
	bufs := q.Take()
	done := make(chan []byte)
	go func() {
		var all []byte
		buf := make([]byte, 8192)
		for len(all) < 3*ChunkSize+7 {
			n, err := b.Read(buf)
			if err != nil {
				break
			}
			all = append(all, buf[:n]...)
		}
		done <- all
	}()
	var scratch net.Buffers
	if n, err := WriteTo(a, bufs, &scratch); err != nil || n != 3*ChunkSize+7 {
		t.Fatalf("wrote %d, %v", n, err)
	}
	if got := <-done; len(got) != 3*ChunkSize+7 {
		t.Fatalf("read %d", len(got))
	}
	q.Done(bufs)
}

// The hot path — a MSG line and a small payload into a warm queue — does
// not allocate.
func TestQueueNoAllocs(t *testing.T) {
	var q Queue
	payload := bytes.Repeat([]byte("p"), 16)
	allocs := testing.AllocsPerRun(1000, func() {
		for range 100 {
			c := q.Tail(64)
			c = append(c, "MSG foo 1 16\r\n"...)
			q.Commit(c)
			q.Write(payload)
			q.Write([]byte("\r\n"))
		}
		q.Done(q.Take())
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per 100 messages", allocs)
	}
}

func BenchmarkQueue1K(b *testing.B) {
	var q Queue
	payload := bytes.Repeat([]byte("p"), 1024)
	b.ReportAllocs()
	b.SetBytes(1024)
	for i := 0; b.Loop(); i++ {
		c := q.Tail(64)
		c = append(c, "MSG foo 1 1024\r\n"...)
		q.Commit(c)
		q.Write(payload)
		if i%64 == 63 {
			q.Done(q.Take())
		}
	}
}
