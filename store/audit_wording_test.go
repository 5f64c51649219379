package store

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestAuditWordingCoversEveryAction: every action any of the module's code writes to the audit
// log has its words in the review's table, and the table has none for an action nobody writes.
// The actions are read from the code itself, wherever a row is made: an Audit's Action, a
// variable named action given a literal, an argument to a parameter named action, and the
// action column of a hand-written INSERT INTO audit_log. An action written in a shape this test
// cannot read fails it, so a new way of writing rows cannot slip past.
func TestAuditWordingCoversEveryAction(t *testing.T) {
	written := auditActionsInCode(t, "..")
	if len(written) < 20 {
		t.Fatalf("found only %d actions in the code (%v): the reading of the code is broken", len(written), written)
	}
	for _, code := range written {
		if !knownAction(code) {
			t.Errorf("action %q is written but has no words in auditActions", code)
		}
	}
	for _, a := range auditActions {
		if !slices.Contains(written, a.Code) {
			t.Errorf("auditActions has words for %q, which no code writes", a.Code)
		}
	}
}

var auditInsert = regexp.MustCompile(`(?s)INSERT INTO audit_log \(([^)]*)\)\s*(?:VALUES \(|SELECT )(.*)`)

func auditActionsInCode(t *testing.T, root string) []string {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Constants, by name: an Action may be one (ActionAuditExported), and a settings change names
	// its section by one of the Section constants.
	consts := map[string]string{}
	var sections, changes []string
	actionParams := map[string]int{} // function name -> index of its parameter named action
	for _, f := range files {
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					vs, ok := spec.(*ast.ValueSpec)
					if !ok || d.Tok != token.CONST {
						continue
					}
					for i, name := range vs.Names {
						if i < len(vs.Values) {
							if s, ok := stringLit(vs.Values[i]); ok {
								consts[name.Name] = s
								if strings.HasPrefix(name.Name, "Section") {
									sections = append(sections, s)
								}
								if strings.HasPrefix(name.Name, "Change") {
									changes = append(changes, s)
								}
							}
						}
					}
				}
			case *ast.FuncDecl:
				i := 0
				for _, field := range d.Type.Params.List {
					for _, name := range field.Names {
						if name.Name == "action" {
							actionParams[d.Name.Name] = i
						}
						i++
					}
					if len(field.Names) == 0 {
						i++
					}
				}
			}
		}
	}

	found := map[string]bool{}
	add := func(pos token.Pos, e ast.Expr) {
		switch x := e.(type) {
		case *ast.BasicLit:
			if s, ok := stringLit(x); ok {
				found[s] = true
				return
			}
		case *ast.Ident:
			if x.Name == "action" {
				return // a variable or parameter: its values are found where they are given
			}
			if s, ok := consts[x.Name]; ok {
				found[s] = true
				return
			}
		case *ast.BinaryExpr:
			if prefix, ok := stringLit(x.X); ok && x.Op == token.ADD {
				if id, ok := x.Y.(*ast.Ident); ok && (id.Name == "section" || strings.HasPrefix(id.Name, "Section")) {
					if s, ok := consts[id.Name]; ok {
						found[prefix+s] = true
						return
					}
					for _, s := range sections {
						found[prefix+s] = true
					}
					return
				}
				// An account change names what changed by one of the Change constants (AccountChange.What).
				if sel, ok := x.Y.(*ast.SelectorExpr); ok && sel.Sel.Name == "What" {
					for _, s := range changes {
						found[prefix+s] = true
					}
					return
				}
			}
		}
		t.Errorf("%s: an audit action this test cannot read; write it as a literal or a constant", fset.Position(pos))
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CompositeLit:
				if !isAuditType(x.Type) {
					return true
				}
				for _, el := range x.Elts {
					if kv, ok := el.(*ast.KeyValueExpr); ok {
						if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Action" {
							add(kv.Value.Pos(), kv.Value)
						}
					}
				}
			case *ast.AssignStmt:
				for i, lhs := range x.Lhs {
					if id, ok := lhs.(*ast.Ident); ok && id.Name == "action" && i < len(x.Rhs) && len(x.Lhs) == len(x.Rhs) {
						add(x.Rhs[i].Pos(), x.Rhs[i])
					}
				}
			case *ast.CallExpr:
				name := ""
				switch fn := x.Fun.(type) {
				case *ast.Ident:
					name = fn.Name
				case *ast.SelectorExpr:
					name = fn.Sel.Name
				}
				if i, ok := actionParams[name]; ok && i < len(x.Args) {
					add(x.Args[i].Pos(), x.Args[i])
				}
			case *ast.BasicLit:
				s, ok := stringLit(x)
				if !ok {
					return true
				}
				m := auditInsert.FindStringSubmatch(s)
				if m == nil {
					return true
				}
				cols := strings.Split(m[1], ",")
				vals := topLevelItems(m[2])
				for i, c := range cols {
					if strings.TrimSpace(c) != "action" || i >= len(vals) {
						continue
					}
					v := strings.TrimSpace(vals[i])
					switch {
					case strings.HasPrefix(v, "$"):
						// A parameter: the Audit it comes from is read above.
					case strings.HasPrefix(v, "'") && strings.HasSuffix(v, "'"):
						found[strings.Trim(v, "'")] = true
					default:
						t.Errorf("%s: an audit action this test cannot read: %s", fset.Position(x.Pos()), v)
					}
				}
			}
			return true
		})
	}
	var out []string
	for s := range found {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func isAuditType(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name == "Audit"
	case *ast.SelectorExpr:
		return x.Sel.Name == "Audit"
	}
	return false
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// topLevelItems splits a SQL list at its commas outside parentheses: "NULLIF($1, 0), $2" is two.
func topLevelItems(s string) []string {
	var items []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			if depth == 0 {
				return append(items, s[start:i])
			}
			depth--
		case ',':
			if depth == 0 {
				items = append(items, s[start:i])
				start = i + 1
			}
		}
	}
	return append(items, s[start:])
}
