package pgtest_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/credlog/credlog/log/storage/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestFreshDatabases checks that each DSN is a distinct, empty database
// that the caller can write to.
func TestFreshDatabases(t *testing.T) {
	ctx := context.Background()
	seen := map[string]bool{}
	for range 2 {
		conn, err := pgx.Connect(ctx, pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var name string
		var tables int
		if err := conn.QueryRow(ctx, "SELECT current_database(), (SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public')").Scan(&name, &tables); err != nil {
			t.Fatal(err)
		}
		if seen[name] || tables != 0 {
			t.Fatalf("database %s (seen before: %v) has %d tables", name, seen[name], tables)
		}
		seen[name] = true
		if _, err := conn.Exec(ctx, "CREATE TABLE t (x integer)"); err != nil {
			t.Fatal(err)
		}
	}
}
