// A minimal token server of the kind sites write by hand, as a reference for the benchmark:
// it reads the login token from the `token` cookie, verifies it with HS256, and answers the
// Zendesk Chat visitor token for it, with CORS for one origin.
//
//	BENCH_LOGIN_SECRET=... BENCH_CHAT_SECRET=... BENCH_ORIGIN=https://shop.example.com \
//	  GOMAXPROCS=1 ./tokens 127.0.0.1:8080
//
// Secrets come from the environment. It answers as Xsolla's published example does (the
// same status codes and bodies), with the fixes that example lacks: a JSON content type,
// `exp` on the minted token, `Cache-Control: no-store`, server timeouts and a health route.
// It is built from Debian's golang-go and golang-github-golang-jwt-jwt-dev (GOPATH mode).
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/golang-jwt/jwt"
)

type server struct {
	loginSecret []byte
	chatSecret  []byte
	origin      string
}

func (s *server) answer(w http.ResponseWriter, status int, body any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

type failure struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

func (s *server) token(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Vary", "Origin")
	if origin := r.Header.Get("Origin"); origin != "" && origin == s.origin {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	cookie, err := r.Cookie("token")
	if err != nil || cookie.Value == "" {
		s.answer(w, http.StatusUnauthorized, failure{"00-00", "Token not passed"})
		return
	}
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(cookie.Value, claims, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, jwt.ErrSignatureInvalid
		}
		return s.loginSecret, nil
	})
	if err != nil || !parsed.Valid {
		s.answer(w, http.StatusUnauthorized, failure{"00-01", "Token is invalid"})
		return
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		s.answer(w, http.StatusUnprocessableEntity, failure{"00-02", `"sub" claim is missed`})
		return
	}
	email, _ := claims["email"].(string)
	if email == "" {
		s.answer(w, http.StatusUnprocessableEntity, failure{"00-03", `"email" claim is missed`})
		return
	}
	now := time.Now().Unix()
	chat := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"name": email, "email": email, "external_id": sub, "iat": now, "exp": now + 300,
	})
	signed, err := chat.SignedString(s.chatSecret)
	if err != nil {
		s.answer(w, http.StatusInternalServerError, failure{"internal", "Internal error"})
		return
	}
	s.answer(w, http.StatusOK, map[string]string{"token": signed})
}

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: tokens HOST:PORT")
	}
	s := &server{
		loginSecret: []byte(os.Getenv("BENCH_LOGIN_SECRET")),
		chatSecret:  []byte(os.Getenv("BENCH_CHAT_SECRET")),
		origin:      os.Getenv("BENCH_ORIGIN"),
	}
	if len(s.loginSecret) == 0 || len(s.chatSecret) == 0 {
		log.Fatal("BENCH_LOGIN_SECRET and BENCH_CHAT_SECRET must be set")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/generate/token", s.token)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	srv := &http.Server{
		Addr:              os.Args[1],
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	log.Fatal(srv.ListenAndServe())
}
