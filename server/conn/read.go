package conn

// ReadSizing is how a connection's read buffer is sized: it starts at
// Start, doubles (up to Max) while reads fill it, and halves (down to
// Min) after a few reads that use less than half, so that 10,000 idle
// clients cost little and a busy one reads in large bites.
type ReadSizing struct {
	Start, Min, Max int
}

// shrinkAfter is how many short reads in a row halve the buffer.
const shrinkAfter = 2

// ReadLoop reads until the connection ends, handing each read to onRead,
// which parses it and delivers (the bytes are only valid during the call).
// An error from onRead ends the connection through onErr (which sends the
// -ERR the protocol calls for, or closes silently); a read error or EOF
// closes it as ClientClosed. Run it on a goroutine of its own.
func (c *Conn) ReadLoop(rs ReadSizing, onRead func([]byte) error, onErr func(error)) {
	buf := make([]byte, rs.Start)
	short := 0
	for {
		n, err := c.nc.Read(buf)
		if n > 0 {
			if perr := onRead(buf[:n]); perr != nil {
				onErr(perr)
				return
			}
			buf, short = rs.resize(buf, n, short)
		}
		if err != nil {
			c.Close(ClientClosed)
			return
		}
		if c.IsClosed() {
			return
		}
	}
}

// resize grows the buffer when a read filled it and shrinks it after short
// reads.
func (rs ReadSizing) resize(buf []byte, n, short int) ([]byte, int) {
	switch {
	case n == len(buf) && len(buf) < rs.Max:
		return make([]byte, min(len(buf)*2, rs.Max)), 0
	case n < len(buf)/2 && len(buf) > rs.Min:
		short++
		if short > shrinkAfter {
			return make([]byte, max(len(buf)/2, rs.Min, rs.Start)), 0
		}
		return buf, short
	}
	return buf, 0
}
