package sim

import (
	"fmt"
	"math/rand/v2"
)

// Word lists for friendly names in wasmCloud's style ("wandering-moon-6866").
var (
	adjectives = []string{
		"aged", "ancient", "autumn", "billowing", "bitter", "black", "blue", "bold", "broken", "cold",
		"cool", "crimson", "damp", "dark", "dawn", "delicate", "divine", "dry", "empty", "falling",
		"floral", "fragrant", "frosty", "green", "hidden", "holy", "icy", "late", "lingering", "little",
		"lively", "long", "misty", "morning", "muddy", "nameless", "old", "patient", "polished", "proud",
		"purple", "quiet", "red", "restless", "rough", "shy", "silent", "small", "snowy", "solitary",
		"sparkling", "spring", "still", "summer", "twilight", "wandering", "weathered", "white", "wild",
		"winter", "wispy", "withered", "young",
	}
	nouns = []string{
		"bird", "breeze", "brook", "bush", "butterfly", "cherry", "cloud", "darkness", "dawn", "dew",
		"dream", "dust", "feather", "field", "fire", "firefly", "flower", "fog", "forest", "frog",
		"frost", "glade", "glitter", "grass", "haze", "hill", "lake", "leaf", "meadow", "moon",
		"morning", "mountain", "night", "paper", "pine", "pond", "rain", "resonance", "river", "sea",
		"shadow", "shape", "silence", "sky", "smoke", "snow", "snowflake", "sound", "star", "sun",
		"sunset", "surf", "thunder", "tree", "violet", "voice", "water", "waterfall", "wave",
		"wildflower", "wind", "wood",
	}
)

// friendlyName returns an adjective-noun-NNNN name.
func friendlyName(rng *rand.Rand) string {
	return fmt.Sprintf("%s-%s-%04d", adjectives[rng.IntN(len(adjectives))], nouns[rng.IntN(len(nouns))], rng.IntN(10000))
}

// platform is what a host reports about the machine it runs on.
type platform struct{ arch, os, family string }

var platforms = []platform{
	{"x86_64", "linux", "unix"}, {"x86_64", "linux", "unix"}, {"aarch64", "linux", "unix"},
	{"aarch64", "macos", "unix"}, {"x86_64", "macos", "unix"}, {"x86_64", "windows", "windows"},
}

var regions = []string{"us-east-1", "us-west-2", "eu-central-1", "eu-west-1", "ap-southeast-2"}

// hostLabels returns the labels of a host: the hostcore.* labels every
// wasmCloud host sets, plus a region and a zone as operators add them.
func hostLabels(rng *rand.Rand) map[string]string {
	p := platforms[rng.IntN(len(platforms))]
	region := regions[rng.IntN(len(regions))]
	return map[string]string{
		"hostcore.arch":     p.arch,
		"hostcore.os":       p.os,
		"hostcore.osfamily": p.family,
		"region":            region,
		"zone":              region + string(rune('a'+rng.IntN(3))),
	}
}
