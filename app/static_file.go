package app

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// staticFile serves an embedded asset by its content-hashed name. Fiber's own static handler
// serves files by their plain names; a hashed name is what lets browsers cache them for a year.
func (a *App) staticFile(c *fiber.Ctx) error {
	asset, ok := a.assets.Lookup(c.Params("+"))
	if !ok {
		return fiber.ErrNotFound
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	c.Set(fiber.HeaderContentType, asset.ContentType)
	c.Vary(fiber.HeaderAcceptEncoding)
	if strings.Contains(c.Get(fiber.HeaderAcceptEncoding), "gzip") {
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(asset.Gzip)
	}
	return c.Send(asset.Body)
}
