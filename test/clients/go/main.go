// Runs SQL through clickhouse-go v2 (the driver grafana-clickhouse-datasource
// uses) in HTTP mode, the way the data source connects: Native format, gzip
// asked for, a ping first. Reads {"addr","user","password","queries"} on
// stdin; writes one JSON result per query on stdout, values normalised for
// comparison (times as epoch milliseconds).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

type input struct {
	Addr     string   `json:"addr"`
	User     string   `json:"user"`
	Password string   `json:"password"`
	Database string   `json:"database"`
	Queries  []string `json:"queries"`
}

type result struct {
	Columns []string `json:"columns,omitempty"`
	Types   []string `json:"types,omitempty"`
	Rows    [][]any  `json:"rows,omitempty"`
	Error   string   `json:"error,omitempty"`
	Code    int32    `json:"code,omitempty"`
}

func normalise(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UnixMilli()
	case *time.Time:
		if x == nil {
			return nil
		}
		return x.UnixMilli()
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
		return x
	case float32:
		return normalise(float64(x))
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			return nil
		}
		return normalise(rv.Elem().Interface())
	case reflect.Slice:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = normalise(rv.Index(i).Interface())
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		for _, k := range rv.MapKeys() {
			out[fmt.Sprint(k.Interface())] = normalise(rv.MapIndex(k).Interface())
		}
		return out
	}
	return v
}

func run(ctx context.Context, conn clickhouse.Conn, sql string) result {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return failure(err)
	}
	defer rows.Close()
	res := result{Columns: rows.Columns(), Rows: [][]any{}}
	for _, t := range rows.ColumnTypes() {
		res.Types = append(res.Types, t.DatabaseTypeName())
	}
	for rows.Next() {
		dest := make([]any, len(res.Columns))
		for i, t := range rows.ColumnTypes() {
			dest[i] = reflect.New(t.ScanType()).Interface()
		}
		if err := rows.Scan(dest...); err != nil {
			return failure(err)
		}
		row := make([]any, len(dest))
		for i, d := range dest {
			row[i] = normalise(reflect.ValueOf(d).Elem().Interface())
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return failure(err)
	}
	return res
}

func failure(err error) result {
	res := result{Error: err.Error()}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		res.Code = ex.Code
	}
	return res
}

func main() {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "bad input:", err)
		os.Exit(2)
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{in.Addr},
		Protocol:    clickhouse.HTTP,
		Auth:        clickhouse.Auth{Database: in.Database, Username: in.User, Password: in.Password},
		Compression: &clickhouse.Compression{Method: clickhouse.CompressionGZIP},
		DialTimeout: 30 * time.Second,
		ReadTimeout: 120 * time.Second,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	defer conn.Close()
	ctx := context.Background()
	out := struct {
		Ping    string   `json:"ping"`
		Version string   `json:"version"`
		Results []result `json:"results"`
	}{Results: []result{}}
	if err := conn.Ping(ctx); err != nil {
		out.Ping = err.Error()
	} else {
		out.Ping = "ok"
	}
	if v, err := conn.ServerVersion(); err == nil {
		out.Version = v.Version.String()
	}
	for _, q := range in.Queries {
		out.Results = append(out.Results, run(ctx, conn, q))
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
