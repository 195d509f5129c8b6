package main

import (
	"errors"

	"github.com/ClickHouse/clickhouse-go/v2"
)

func asException(err error, target **clickhouse.Exception) bool {
	return errors.As(err, target)
}
