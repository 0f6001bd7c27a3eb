package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/keyipsentinel/sentinel/cmd/internal/config"
)

func runMigrate(ctx context.Context, cfg *config.Config, log *slog.Logger, args []string) error {
	return errors.New("migrate: not wired yet")
}
