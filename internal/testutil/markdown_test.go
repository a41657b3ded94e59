package testutil

import (
	"testing"
)

func TestMarkdownBlocks(t *testing.T) {
	md := "# t\n```conf\nport: 1\n```\n```sh\nnatsd\n```\n````conf extra\na: 1\n```\nb: 2\n````\n~~~\nc\n~~~\n  ```text\n  x\n  ```\n"
	got := MarkdownBlocks([]byte(md))
	want := []MarkdownBlock{
		{2, "conf", []byte("port: 1\n")},
		{5, "sh", []byte("natsd\n")},
		{8, "conf", []byte("a: 1\n```\nb: 2\n")},
		{13, "", []byte("c\n")},
		{16, "text", []byte("  x\n")},
	}
	if len(got) != len(want) {
		t.Fatalf("MarkdownBlocks = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Line != want[i].Line || got[i].Lang != want[i].Lang || string(got[i].Text) != string(want[i].Text) {
			t.Errorf("block %d = {%d %q %q}, want {%d %q %q}", i, got[i].Line, got[i].Lang, got[i].Text, want[i].Line, want[i].Lang, want[i].Text)
		}
	}
}
