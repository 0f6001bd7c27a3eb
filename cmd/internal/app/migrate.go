package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/keyipsentinel/sentinel/adapters/clock"
	"github.com/keyipsentinel/sentinel/cmd/internal/config"
)

// runMigrate manages the PostgreSQL schema: up applies what is pending,
// down rolls back the last group, status lists every migration.
func runMigrate(ctx context.Context, cfg *config.Config, log *slog.Logger, args []string) error {
	if len(args) != 1 || (args[0] != "up" && args[0] != "down" && args[0] != "status") {
		return errors.New("usage: migrate up|down|status")
	}
	if cfg.PGDSN == "" {
		return errors.New("PG_DSN is unset: migrate manages the PostgreSQL schema (the embedded SQLite store migrates itself when it opens)")
	}
	db, err := openPostgres(ctx, cfg, log, clock.System{})
	if err != nil {
		return err
	}
	defer db.Close()
	switch args[0] {
	case "up":
		names, err := db.Migrate(ctx)
		for _, n := range names {
			fmt.Println("applied", n)
		}
		if err == nil && len(names) == 0 {
			fmt.Println("the schema is up to date")
		}
		return err
	case "down":
		names, err := db.Rollback(ctx)
		for _, n := range names {
			fmt.Println("rolled back", n)
		}
		if err == nil && len(names) == 0 {
			fmt.Println("nothing to roll back")
		}
		return err
	}
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "MIGRATION\tSTATUS\tAPPLIED AT")
	for _, s := range st {
		status, at := "pending", ""
		if s.Applied {
			status, at = "applied", s.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s_%s\t%s\t%s\n", s.Name, s.Comment, status, at)
	}
	return w.Flush()
}
