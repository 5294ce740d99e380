// Package fmnist loads Fashion-MNIST from the IDX gzip files of the Debian
// package dataset-fashion-mnist, validates them, and splits the 60,000
// training images into a fixed training and validation part.
//
// The split is deterministic and positional: training images 0..49,999 are
// the training set, 50,000..59,999 the validation set (the original files are
// already in random class order, so both parts are class-balanced to within a
// few percent). Data.Holdout moves the cut for a larger validation part. The
// 10,000 test images are kept apart for final reporting only; the search
// never looks at them.
package fmnist

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultDir is where the Debian package dataset-fashion-mnist installs the files.
const DefaultDir = "/usr/share/datasets/fashion-mnist"

// Image geometry and split sizes.
const (
	Rows       = 28
	Cols       = 28
	Pixels     = Rows * Cols
	Classes    = 10
	TrainTotal = 60000 // images in the training files (train + validation)
	TestTotal  = 10000
	ValCount   = 10000 // the last ValCount training images are the validation set
)

// IDX magic numbers: 0x00000803 (unsigned byte, 3 dims) and 0x00000801 (1 dim).
const (
	imageMagic = 2051
	labelMagic = 2049
)

// File names inside the dataset directory.
const (
	TrainImagesFile = "train-images-idx3-ubyte.gz"
	TrainLabelsFile = "train-labels-idx1-ubyte.gz"
	TestImagesFile  = "t10k-images-idx3-ubyte.gz"
	TestLabelsFile  = "t10k-labels-idx1-ubyte.gz"
)

// ClassNames are the Fashion-MNIST label names, indexed by label.
var ClassNames = [Classes]string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// Set is a labelled image set. Images are float32 in [0,1], NHWC with H=W=28,
// C=1, so image i is Images[i*Pixels : (i+1)*Pixels].
type Set struct {
	Images []float32
	Labels []uint8
}

// Len is the number of images.
func (s *Set) Len() int { return len(s.Labels) }

// Image returns image i (a view, not a copy).
func (s *Set) Image(i int) []float32 { return s.Images[i*Pixels : (i+1)*Pixels] }

// Slice returns images [lo,hi) as a view sharing s's storage.
func (s *Set) Slice(lo, hi int) *Set {
	return &Set{Images: s.Images[lo*Pixels : hi*Pixels], Labels: s.Labels[lo:hi]}
}

// Data is the split dataset.
type Data struct {
	Train, Val, Test *Set
	// trainFile is the training file's images in file order (Train then
	// Val) when Load made them one array, so Holdout can re-split without
	// copying.
	trainFile *Set
}

// Split records a positional split of the training files' images:
// [TrainFirst, TrainFirst+TrainCount) train, [ValFirst, ValFirst+ValCount)
// validation. The test files never take part.
type Split struct {
	TrainFirst int `json:"train_first"`
	TrainCount int `json:"train_count"`
	ValFirst   int `json:"val_first"`
	ValCount   int `json:"val_count"`
}

// Holdout re-splits the training images (Train followed by Val, which is
// the training file's order after Load) so that the last n are the
// validation part and all before them the training part; Test is kept as
// it is. Holdout(ValCount) is Load's split. The result's sets are views of
// Load's storage, or fresh copies for a Data that was not loaded whole.
func (d *Data) Holdout(n int) (*Data, Split, error) {
	if d == nil || d.Train == nil || d.Val == nil {
		return nil, Split{}, fmt.Errorf("holdout: no training and validation sets")
	}
	total := d.Train.Len() + d.Val.Len()
	if n <= 0 || n >= total {
		return nil, Split{}, fmt.Errorf("holdout of %d images: want 1 to %d (the training files hold %d, and training needs some)", n, total-1, total)
	}
	cut := total - n
	sp := Split{TrainFirst: 0, TrainCount: cut, ValFirst: cut, ValCount: n}
	all := d.trainFile
	switch {
	case n == d.Val.Len():
		return &Data{Train: d.Train, Val: d.Val, Test: d.Test, trainFile: d.trainFile}, sp, nil
	case all == nil || all.Len() != total:
		all = &Set{Images: append(append(make([]float32, 0, total*Pixels), d.Train.Images...), d.Val.Images...),
			Labels: append(append(make([]uint8, 0, total), d.Train.Labels...), d.Val.Labels...)}
	}
	return &Data{Train: all.Slice(0, cut), Val: all.Slice(cut, total), Test: d.Test, trainFile: all}, sp, nil
}

// Load reads and validates the four files in dir and splits them. A missing
// directory or file gives an error that says which package provides it.
func Load(dir string) (*Data, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("fashion-mnist directory %s not found: install Debian package dataset-fashion-mnist (make deps)", dir)
	}
	train, err := loadPair(dir, TrainImagesFile, TrainLabelsFile, TrainTotal)
	if err != nil {
		return nil, err
	}
	test, err := loadPair(dir, TestImagesFile, TestLabelsFile, TestTotal)
	if err != nil {
		return nil, err
	}
	cut := TrainTotal - ValCount
	return &Data{Train: train.Slice(0, cut), Val: train.Slice(cut, TrainTotal), Test: test, trainFile: train}, nil
}

// LoadDefault is Load(DefaultDir).
func LoadDefault() (*Data, error) { return Load(DefaultDir) }

func loadPair(dir, imgName, lblName string, want int) (*Set, error) {
	imgs, err := readGzipFile(filepath.Join(dir, imgName), func(r io.Reader) (any, error) { return ReadImages(r) })
	if err != nil {
		return nil, err
	}
	lbls, err := readGzipFile(filepath.Join(dir, lblName), func(r io.Reader) (any, error) { return ReadLabels(r) })
	if err != nil {
		return nil, err
	}
	s := &Set{Images: imgs.([]float32), Labels: lbls.([]uint8)}
	if n := len(s.Images) / Pixels; n != want {
		return nil, fmt.Errorf("%s: %d images, want %d", imgName, n, want)
	}
	if s.Len() != want {
		return nil, fmt.Errorf("%s: %d labels, want %d", lblName, s.Len(), want)
	}
	return s, nil
}

func readGzipFile(path string, parse func(io.Reader) (any, error)) (any, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s not found: install Debian package dataset-fashion-mnist (make deps)", path)
		}
		return nil, fmt.Errorf("fashion-mnist: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s: not a gzip file: %w", path, err)
	}
	v, err := parse(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// Trailing data means the header lied about the count.
	var one [1]byte
	if n, _ := zr.Read(one[:]); n != 0 {
		return nil, fmt.Errorf("%s: trailing data after the declared items", path)
	}
	return v, nil
}

// ReadImages decodes an (uncompressed) IDX image stream: magic 2051, then
// count, 28, 28, then count*784 pixel bytes; pixels are scaled to [0,1].
func ReadImages(r io.Reader) ([]float32, error) {
	var hdr [4]uint32
	if err := binary.Read(r, binary.BigEndian, &hdr); err != nil {
		return nil, fmt.Errorf("idx image header: %w", truncated(err))
	}
	if hdr[0] != imageMagic {
		return nil, fmt.Errorf("idx image magic %d, want %d", hdr[0], imageMagic)
	}
	if hdr[2] != Rows || hdr[3] != Cols {
		return nil, fmt.Errorf("idx images are %dx%d, want %dx%d", hdr[2], hdr[3], Rows, Cols)
	}
	n := int(hdr[1])
	if n <= 0 || n > TrainTotal {
		return nil, fmt.Errorf("idx image count %d out of range [1,%d]", n, TrainTotal)
	}
	raw := make([]byte, n*Pixels)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("idx images: declared %d images: %w", n, truncated(err))
	}
	out := make([]float32, len(raw))
	for i, b := range raw {
		out[i] = float32(b) / 255
	}
	return out, nil
}

// ReadLabels decodes an (uncompressed) IDX label stream: magic 2049, count,
// then count label bytes, each < 10.
func ReadLabels(r io.Reader) ([]uint8, error) {
	var hdr [2]uint32
	if err := binary.Read(r, binary.BigEndian, &hdr); err != nil {
		return nil, fmt.Errorf("idx label header: %w", truncated(err))
	}
	if hdr[0] != labelMagic {
		return nil, fmt.Errorf("idx label magic %d, want %d", hdr[0], labelMagic)
	}
	n := int(hdr[1])
	if n <= 0 || n > TrainTotal {
		return nil, fmt.Errorf("idx label count %d out of range [1,%d]", n, TrainTotal)
	}
	out := make([]uint8, n)
	if _, err := io.ReadFull(r, out); err != nil {
		return nil, fmt.Errorf("idx labels: declared %d labels: %w", n, truncated(err))
	}
	for i, l := range out {
		if l >= Classes {
			return nil, fmt.Errorf("idx label %d is %d, want < %d", i, l, Classes)
		}
	}
	return out, nil
}

func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("file truncated: %w", io.ErrUnexpectedEOF)
	}
	return err
}
