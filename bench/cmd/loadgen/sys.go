package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// raiseNoFile lifts the soft descriptor limit to the hard one: the tool holds
// one socket per simulated client, thousands of them in idle mode.
func raiseNoFile() (soft uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return uint64(lim.Cur), nil
}

// readRSS returns the resident set size of process pid in bytes, from the
// VmRSS line of /proc/PID/status (Linux only).
func readRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseVmRSS(f)
}

func parseVmRSS(f *os.File) (int64, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := vmRSSLine(sc.Bytes()); ok {
			return v, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no VmRSS line", f.Name())
}

// vmRSSLine parses "VmRSS:\t   1234 kB" into bytes.
func vmRSSLine(line []byte) (int64, bool) {
	return statusKB(line, "VmRSS:")
}

// statusKB parses a "Name:\t   1234 kB" line of /proc/PID/status into bytes.
func statusKB(line []byte, name string) (int64, bool) {
	rest, ok := bytes.CutPrefix(line, []byte(name))
	if !ok {
		return 0, false
	}
	fields := bytes.Fields(rest)
	if len(fields) != 2 || string(fields[1]) != "kB" {
		return 0, false
	}
	kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
	if err != nil {
		return 0, false
	}
	return kb * 1024, true
}
