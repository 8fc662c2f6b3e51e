package sim

import (
	"fmt"
	"strings"
)

// otpUptime renders uptime as OTP hosts do: "1 hour, 41 minutes, 3 seconds".
func otpUptime(secs uint64) string {
	var parts []string
	for _, u := range [...]struct {
		size uint64
		name string
	}{{86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}} {
		n := secs / u.size
		secs %= u.size
		if n == 0 {
			continue
		}
		if n == 1 {
			parts = append(parts, "1 "+u.name)
		} else {
			parts = append(parts, fmt.Sprintf("%d %ss", n, u.name))
		}
	}
	if len(parts) == 0 {
		return "0 seconds"
	}
	return strings.Join(parts, ", ")
}

// v1Uptime renders uptime as 1.x hosts do (Rust humantime): "1h 41m 3s".
func v1Uptime(secs uint64) string {
	var parts []string
	switch days := secs / 86400; {
	case days == 1:
		parts = append(parts, "1day")
	case days > 1:
		parts = append(parts, fmt.Sprintf("%ddays", days))
	}
	for _, u := range [...]struct {
		n    uint64
		unit string
	}{{secs % 86400 / 3600, "h"}, {secs % 3600 / 60, "m"}, {secs % 60, "s"}} {
		if u.n > 0 {
			parts = append(parts, fmt.Sprintf("%d%s", u.n, u.unit))
		}
	}
	if len(parts) == 0 {
		return "0s"
	}
	return strings.Join(parts, " ")
}
