// The go-plugin host of `bench peers`: launches the plugin binary named by -plugin with
// go-plugin's client (gRPC protocol), dispenses the echo interface, checks one call, prints
// {"ready":...} and then, for each line "<concurrency> <warm-up s> <duration s>" read on
// stdin, runs the echo of a 1 KiB JSON body from that many goroutines, each calling
// back-to-back, and prints one JSON line of figures: the calls completing inside the measured
// window, their p50/p99 in µs (nearest rank), and the errors. It exits at the end of stdin.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"sync"
	"time"

	"convotic/peers/echo"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
)

// figures is the JSON line printed per run.
type figures struct {
	Concurrency int     `json:"concurrency"`
	Calls       int     `json:"calls"`
	Errors      int     `json:"errors"`
	WindowS     float64 `json:"window_s"`
	P50us       float64 `json:"p50_us"`
	P99us       float64 `json:"p99_us"`
	FirstError  string  `json:"first_error,omitempty"`
}

// body is a compact JSON object of about 1 KiB, the same shape as the Rust side's.
func body() []byte {
	fields := map[string]string{}
	for i := 0; ; i++ {
		encoded, _ := json.Marshal(fields)
		if len(encoded) >= 1000 {
			return encoded
		}
		fields[fmt.Sprintf("field_%02d", i)] = fmt.Sprintf("value-%04d-abcdefgh", i)
	}
}

// percentile is the nearest-rank percentile of sorted samples, as the Rust bench computes it.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Round(p / 100 * float64(len(sorted)-1)))
	return float64(sorted[rank]) / 1e3
}

func run(echoer echo.Echoer, request []byte, concurrency int, warmup, duration time.Duration) figures {
	measureFrom := time.Now().Add(warmup)
	until := measureFrom.Add(duration)
	var lock sync.Mutex
	var all []time.Duration
	result := figures{Concurrency: concurrency, WindowS: duration.Seconds()}
	var wait sync.WaitGroup
	for g := 0; g < concurrency; g++ {
		wait.Add(1)
		go func() {
			defer wait.Done()
			var mine []time.Duration
			errors, firstError := 0, ""
			for {
				started := time.Now()
				if !started.Before(until) {
					break
				}
				answer, err := echoer.Echo(context.Background(), request)
				done := time.Now()
				if done.Before(measureFrom) || done.After(until) {
					continue
				}
				switch {
				case err != nil:
					errors++
					if firstError == "" {
						firstError = err.Error()
					}
				case !bytes.Equal(answer, request):
					errors++
					if firstError == "" {
						firstError = fmt.Sprintf("answer of %d bytes differs from the request", len(answer))
					}
				default:
					mine = append(mine, done.Sub(started))
				}
			}
			lock.Lock()
			all = append(all, mine...)
			result.Errors += errors
			if result.FirstError == "" {
				result.FirstError = firstError
			}
			lock.Unlock()
		}()
	}
	wait.Wait()
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	result.Calls = len(all)
	result.P50us = percentile(all, 50)
	result.P99us = percentile(all, 99)
	return result
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "peers host: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	pluginPath := flag.String("plugin", "", "path of the plugin binary")
	flag.Parse()
	if *pluginPath == "" {
		fail("-plugin <path> is required")
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  echo.Handshake,
		Plugins:          map[string]plugin.Plugin{"echo": echo.Plugin{}},
		Cmd:              exec.Command(*pluginPath),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: os.Stderr}),
	})
	defer client.Kill()
	protocol, err := client.Client()
	if err != nil {
		fail("start the plugin: %v", err)
	}
	raw, err := protocol.Dispense("echo")
	if err != nil {
		fail("dispense: %v", err)
	}
	echoer := raw.(echo.Echoer)
	request := body()
	if answer, err := echoer.Echo(context.Background(), request); err != nil || !bytes.Equal(answer, request) {
		fail("first echo failed (%d bytes back): %v", len(answer), err)
	}
	out := json.NewEncoder(os.Stdout)
	_ = out.Encode(map[string]interface{}{"ready": true, "go": runtime.Version(), "body_bytes": len(request), "gomaxprocs": runtime.GOMAXPROCS(0)})
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		var concurrency int
		var warmup, duration float64
		if _, err := fmt.Sscanf(lines.Text(), "%d %g %g", &concurrency, &warmup, &duration); err != nil || concurrency < 1 || duration <= 0 {
			fail("bad run line %q: want \"<concurrency> <warm-up s> <duration s>\"", lines.Text())
		}
		figures := run(echoer, request, concurrency, time.Duration(warmup*float64(time.Second)), time.Duration(duration*float64(time.Second)))
		if err := out.Encode(figures); err != nil {
			fail("write: %v", err)
		}
	}
}
