//go:build race

package faults

// raceBuild: natsd is built with -race too (testutil.NatsdBin does), and
// the race detector's shadow memory multiplies what a process holds, so
// the RSS bounds are wider.
const raceBuild = true
