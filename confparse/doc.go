// Package confparse reads NATS configuration files: the grammar of
// nats-server's conf package, with our own lexer and parser. It builds a
// tree of typed values with positions and knows nothing of servers; the
// daemon turns the tree into options.
//
// # Grammar
//
// A file is a list of entries, optionally inside one pair of braces:
//
//	port: 4222                  # key: value, key = value and key value are alike
//	cluster {                   # a map; the separator may be left out
//	  listen: 127.0.0.1:6222    // comments start with # or //
//	  routes = [
//	    nats://10.0.0.2:6222, nats://10.0.0.3:6222,   # arrays: ',' ';' or newline
//	  ]
//	}
//	limits { max_payload: 1MB; max_pending: 64m }     # ';' or ',' between entries too
//
// Values are:
//
//   - maps { … } and arrays [ … ], nested at most 100 deep;
//   - strings: "double quoted" with the escapes \t \n \r \" \\ and \xHH
//     (any other escape is an error), 'single quoted' with no escapes, a
//     block string "(" … ")" that ends at a ")" alone at the start of a
//     line (newlines kept), or unquoted text, which runs to a blank or one
//     of , ; ] } (so 127.0.0.1:4222 and nats://h:4222 need no quotes);
//   - integers, with an optional size suffix in any case: k m g t p e are
//     powers of 1000, kb/ki/kib … eb/ei/eib powers of 1024 (1k = 1000,
//     1KB = 1024); negative integers; floats (3.14, -0.5);
//   - booleans: true false yes no on off, in any case, unquoted ("yes" is a
//     string);
//   - dates in ISO 8601 Zulu form, 2016-05-04T18:53:41Z.
//
// Unquoted text that starts with a digit but is not a number stays a
// string (1e3, 2s, 1m30s, 10.2.3, 127.0.0.1:4222), except that a float or
// address followed by other text is an error, as in nats-server
// (266.0.0.1:foo). An unquoted value cannot start with '.'.
//
// Keys are unquoted (ending at a blank, '=', ':' or a bracket) or quoted
// with " or ' (no escapes). Dots in keys have no meaning: "foo.bar" is one
// key. A key may be repeated; the later value replaces the earlier one
// whole (maps are not merged) and the entry keeps its first place, with
// the earlier key positions in Entry.Shadowed.
//
// $NAME (unquoted) is a variable. It resolves to the value of the key NAME
// (case-sensitive) defined earlier in the innermost enclosing map, then
// the maps around it, then to the environment variable NAME, whose text is
// parsed as a value (NAME=2kb gives the integer 2048). A reference cycle
// through the environment is an error. The definition stays in the tree as
// an ordinary key, marked Entry.UsedAsVariable. Unquoted text starting
// with $2a$ is bcrypt text, not a variable.
//
// "include FILE" (also with FILE in quotes; the keyword in any case,
// followed by a blank) parses FILE, relative to the directory of the
// including file, and merges its top-level keys into the current map. The
// included file is parsed on its own: it does not see the variables of the
// file that includes it. Include cycles are errors. "include: x" is an
// ordinary key.
//
// CRLF line ends work.
//
// # Differences from nats-server
//
// Where nats-server accepts a file, confparse builds the same tree, with
// these deliberate exceptions, all on input that is a mistake or a bug
// there:
//
//   - integer overflow (10e) is an error rather than wrapping, and so is an
//     unknown size suffix (1kbb), which nats-server silently drops;
//   - "key:" at the very end of the file is an error rather than an empty
//     string, and so are "key: ," and "key: }";
//   - unquoted values are raw (no backslash escapes) and may contain a
//     quote; "-5abc" is a string like "5abc";
//   - "[1, 2]" ends its last number at the ']'; ';' separates array
//     elements too;
//   - an unquoted key ends at a bracket, so "cluster{" opens a map;
//   - braces around the file are recognised only as its first token;
//   - "include = x" is a key; the file name of an include may start with a
//     digit; an environment value may not include files;
//   - block strings also end at ")" followed by CRLF, and their CRLFs
//     become LF.
//
// A UTF-8 byte order mark is skipped (nats-server makes it part of the
// first key), and a NUL byte, which nats-server can take for the end of
// input, is refused.
//
// # Positions
//
// Every Node has the Pos where its value starts and every Entry the Pos of
// its key: file name (as given to ParseFile, or as resolved for an
// include), 1-based line, and 1-based column counted in bytes. A value
// that came from a $VAR has the position of the reference.
//
// # Errors
//
// ParseFile and Parse return an ErrorList, sorted, each Error formatted as
// "file:line:col: message", with " (included from a.conf:3:1)" when the
// file was included. A syntax error ends the parse of its file (what
// follows cannot be trusted), but wrong values, undefined variables and
// missing includes are all collected. An error found at a line end (a key
// with no value) is reported at the start of the next line, as
// nats-server does. No input makes the parser panic or loop: nesting,
// include depth and variable expansion are bounded.
package confparse
