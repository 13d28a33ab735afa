package main

import "github.com/loom-mqtt/loom/config"

// sizeFlag is a byte count given as a number with an optional unit: 512,
// 64KiB, 8MiB, 1GiB (KB, MB and GB are read as the same powers of two), as
// the configuration file writes sizes. A negative number means "no bound"
// to the options that take it.
type sizeFlag int64

func (s *sizeFlag) String() string { return config.FormatSize(int64(*s)) }

func (s *sizeFlag) Set(v string) error {
	n, err := config.ParseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}
