package runs

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadSkipsOtherLines(t *testing.T) {
	type r struct{ A int }
	got, err := Read[r](strings.NewReader("log line\n{\"A\":1}\n  {\"A\":2}  \n"))
	require.NoError(t, err)
	require.Equal(t, []r{{1}, {2}}, got)
	_, err = Read[r](strings.NewReader("{bad\n"))
	require.Error(t, err)
}

func TestMedian(t *testing.T) {
	require.True(t, math.IsNaN(Median(nil)))
	xs := []float64{3, 1, 2}
	require.Equal(t, 2.0, Median(xs))
	require.Equal(t, []float64{3, 1, 2}, xs, "left as it was")
	require.Equal(t, 2.5, Median([]float64{4, 1, 2, 3}))
}
