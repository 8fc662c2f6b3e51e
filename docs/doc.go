// Package docs holds no code: its test checks that the README and the
// documents beside it link only to files and headings that exist in the
// repository.
package docs
