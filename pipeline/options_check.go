package pipeline

import "fmt"

// CheckOptions reports the first of opts that New would refuse, without
// connecting to anything, so that a command can refuse its flags before it
// starts.
func CheckOptions(opts ...Option) error {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return fmt.Errorf("pipeline option: %w", err)
		}
	}
	return nil
}
