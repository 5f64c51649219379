package store_test

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"

	"securemessages/store"
	"securemessages/store/storetest"
)

// Each migration, rolled back, leaves the schema exactly as the one before left it, and every
// migration runs again after: an operator who rolls a release back can roll its schema back too,
// and forward again later. The index migrations built CONCURRENTLY (outside a transaction) are
// among them.
func TestMigrationsRollBackAndRunAgain(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := sql.Open("postgres", storetest.EmptyURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dir, err := fs.Sub(store.Migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, dir)
	if err != nil {
		t.Fatal(err)
	}

	// The schema after each version, going up one at a time; after[0] is the empty database.
	after := []string{schemaOf(ctx, t, db)}
	for {
		_, err := provider.UpByOne(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			break
		}
		if err != nil {
			t.Fatalf("going up one at a time, after version %d: %v", len(after)-1, err)
		}
		after = append(after, schemaOf(ctx, t, db))
	}
	// Numbers are given out ahead of time, so one may be missing until its migration lands.
	sources := provider.ListSources()
	if version, err := provider.GetDBVersion(ctx); err != nil || len(sources) != len(after)-1 || version != sources[len(sources)-1].Version {
		t.Fatalf("after going up one at a time: version %d (%v), %d migrations run of %d", version, err, len(after)-1, len(sources))
	}
	var invalid int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_index WHERE NOT indisvalid`).Scan(&invalid); err != nil {
		t.Fatal(err)
	}
	if invalid != 0 {
		t.Errorf("%d invalid indexes after the migrations", invalid)
	}

	for v := len(after) - 1; v > 0; v-- {
		res, err := provider.Down(ctx)
		if err != nil {
			t.Fatalf("rolling back version %d: %v", v, err)
		}
		if got := schemaOf(ctx, t, db); got != after[v-1] {
			t.Errorf("rolling back %s leaves a schema other than version %d's:\n%s",
				res.Source.Path, v-1, schemaDiff(got, after[v-1]))
		}
	}

	if err := store.Migrate(ctx, db); err != nil {
		t.Fatalf("migrating again: %v", err)
	}
	// Migrate also brings up River's job queue, and running it again changes nothing.
	if err := store.Migrate(ctx, db); err != nil {
		t.Fatalf("migrating a third time: %v", err)
	}
	var jobs int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM river_job`).Scan(&jobs); err != nil {
		t.Fatalf("River's job table after Migrate: %v", err)
	}
	if got := schemaOf(ctx, t, db); got != after[len(after)-1] {
		t.Errorf("migrated again, the schema differs from the first time:\n%s", schemaDiff(got, after[len(after)-1]))
	}
}

// schemaOf describes the database's own schema: its columns, indexes, constraints, triggers and
// functions (goose's version table and River's job queue, which River migrates, left out).
func schemaOf(ctx context.Context, t *testing.T, db *sql.DB) string {
	t.Helper()
	var s string
	err := db.QueryRowContext(ctx, `
		SELECT concat_ws(E'\n',
			(SELECT string_agg(table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, ''), E'\n' ORDER BY table_name, column_name)
			 FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'goose_db_version' AND table_name NOT LIKE 'river\_%'),
			(SELECT string_agg(indexdef, E'\n' ORDER BY indexdef)
			 FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'goose_db_version' AND tablename NOT LIKE 'river\_%'),
			(SELECT string_agg(conrelid::regclass || ' ' || pg_get_constraintdef(oid), E'\n' ORDER BY conrelid::regclass::text, pg_get_constraintdef(oid))
			 FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'goose_db_version'
			   AND conrelid::regclass::text NOT LIKE 'river\_%' AND conname NOT LIKE 'river\_%'),
			(SELECT string_agg(pg_get_triggerdef(oid), E'\n' ORDER BY pg_get_triggerdef(oid))
			 FROM pg_trigger WHERE NOT tgisinternal AND tgrelid::regclass::text NOT LIKE 'river\_%'),
			(SELECT string_agg(proname, E'\n' ORDER BY proname)
			 FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND proname NOT LIKE 'river\_%'))`).Scan(&s)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// schemaDiff lists the lines of schemaOf that only got has (+) and only want has (-).
func schemaDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var out []string
	for _, l := range g {
		if !slices.Contains(w, l) {
			out = append(out, "+ "+l)
		}
	}
	for _, l := range w {
		if !slices.Contains(g, l) {
			out = append(out, "- "+l)
		}
	}
	return strings.Join(out, "\n")
}
