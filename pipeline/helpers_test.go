package pipeline_test

import "fmt"

var errorf = fmt.Errorf
